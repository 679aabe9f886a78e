// Registers the CLI's command groups: API-client commands and the offline evidence verifier. The commands
// that run a Gantry process on this host (server, database administration, agent) are in src/host/.
import type { Command } from 'commander';
import { registerAgentCommands } from './agent-commands.js';
import { registerApplyCommands } from './apply-commands.js';
import { registerAuthCommands } from './auth-commands.js';
import { registerComponentCommands } from './component-commands.js';
import { registerDeployCommands } from './deploy-commands.js';
import { registerEnvCommands } from './env-commands.js';
import { registerEvidenceCommands } from './evidence-commands.js';
import { registerHistoryCommands } from './history-commands.js';
import { registerIntegrationCommands } from './integration-commands.js';
import { registerNotificationCommands } from './notification-commands.js';
import { registerPlatformCommands } from './platform-commands.js';
import { registerPluginCommands } from './plugin-commands.js';
import { registerPromoteCommands } from './promote-commands.js';
import { registerReleaseCommands } from './release-commands.js';
import { registerRolloutCommands } from './rollout-commands.js';
import { registerSecretCommands } from './secret-commands.js';
import { registerTargetCommands } from './target-commands.js';
import { registerTokenCommands } from './token-commands.js';
import { registerUserCommands } from './user-commands.js';
import { registerWorkflowCommands } from './workflow-commands.js';

export function registerCommands(program: Command): void {
  registerPlatformCommands(program);
  registerAuthCommands(program);
  registerEnvCommands(program);
  registerTargetCommands(program);
  registerComponentCommands(program);
  registerReleaseCommands(program);
  registerPromoteCommands(program);
  registerHistoryCommands(program);
  registerRolloutCommands(program);
  registerIntegrationCommands(program);
  registerNotificationCommands(program);
  registerAgentCommands(program);
  registerDeployCommands(program);
  registerTokenCommands(program);
  registerSecretCommands(program);
  registerUserCommands(program);
  registerWorkflowCommands(program);
  registerPluginCommands(program);
  registerEvidenceCommands(program);
  registerApplyCommands(program);
}
