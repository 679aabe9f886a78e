// The CLI's command groups: API-client commands and the offline evidence verifier, each module loaded only
// when its command runs (or for the full help). The commands that run a Gantry process on this host
// (server, database administration, agent) are in src/host/.
import type { CommandGroup } from './program.js';

/** In registration order; `names` are the top-level commands each module defines. */
export const cliCommandGroups: readonly CommandGroup[] = [
  { names: ['platform'], load: async () => (await import('./platform-commands.js')).registerPlatformCommands },
  { names: ['login', 'whoami'], load: async () => (await import('./auth-commands.js')).registerAuthCommands },
  { names: ['env'], load: async () => (await import('./env-commands.js')).registerEnvCommands },
  { names: ['target'], load: async () => (await import('./target-commands.js')).registerTargetCommands },
  { names: ['component'], load: async () => (await import('./component-commands.js')).registerComponentCommands },
  { names: ['release'], load: async () => (await import('./release-commands.js')).registerReleaseCommands },
  {
    names: ['promote', 'approve', 'reject', 'promotion'],
    load: async () => (await import('./promote-commands.js')).registerPromoteCommands,
  },
  { names: ['history'], load: async () => (await import('./history-commands.js')).registerHistoryCommands },
  { names: ['rollout'], load: async () => (await import('./rollout-commands.js')).registerRolloutCommands },
  { names: ['integration'], load: async () => (await import('./integration-commands.js')).registerIntegrationCommands },
  { names: ['notification'], load: async () => (await import('./notification-commands.js')).registerNotificationCommands },
  { names: ['agent'], load: async () => (await import('./agent-commands.js')).registerAgentCommands },
  { names: ['deploy', 'rollback', 'drift'], load: async () => (await import('./deploy-commands.js')).registerDeployCommands },
  { names: ['token'], load: async () => (await import('./token-commands.js')).registerTokenCommands },
  { names: ['secret'], load: async () => (await import('./secret-commands.js')).registerSecretCommands },
  { names: ['user', 'tenant'], load: async () => (await import('./user-commands.js')).registerUserCommands },
  { names: ['workflow'], load: async () => (await import('./workflow-commands.js')).registerWorkflowCommands },
  { names: ['plugin'], load: async () => (await import('./plugin-commands.js')).registerPluginCommands },
  { names: ['evidence'], load: async () => (await import('./evidence-commands.js')).registerEvidenceCommands },
  { names: ['apply', 'export'], load: async () => (await import('./apply-commands.js')).registerApplyCommands },
  { names: ['doctor'], load: async () => (await import('./doctor-commands.js')).registerDoctorCommands },
  { names: ['completion'], all: true, load: async () => (await import('./completion-commands.js')).registerCompletionCommands },
];
