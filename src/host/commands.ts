// The commands that run a Gantry process on this host instead of calling the API: the server and its
// database administration (`gantry server`, `gantry db migrate`, `gantry admin …`), and the agent
// (`gantry agent run|rotate`). Each module is loaded only when its command runs (or for the full help),
// and loads server or agent modules lazily in turn, so API-client commands stay fast.
import type { CommandGroup } from '../cli/program.js';

/** The server host's commands; registered before the API commands, so `gantry admin` is defined here. */
export const serverHostGroups: readonly CommandGroup[] = [
  { names: ['server', 'db'], load: async () => (await import('./server-commands.js')).registerServerCommands },
  { names: ['admin'], load: async () => (await import('./admin-commands.js')).registerAdminCommands },
  { names: ['admin'], load: async () => (await import('./secret-key-commands.js')).registerSecretKeyCommands },
];

/** The agent process's commands, added to the API commands' `gantry agent` group. */
export const agentHostGroups: readonly CommandGroup[] = [
  { names: ['agent'], load: async () => (await import('./agent-commands.js')).registerAgentProcessCommands },
];
