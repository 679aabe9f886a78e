// `gantry agent list|get`: the deployment agents registered with this tenant and their liveness.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { clip, printRecord, printTable } from './output.js';

interface Agent {
  id: string;
  name: string;
  version: string;
  status: string;
  lastHeartbeat: string | null;
  capabilities: Record<string, unknown>;
  createdAt?: string;
  updatedAt?: string;
}

export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description('Deployment agents: list them and see their heartbeat and capabilities');

  apiCommand(agent, 'list', 'List agents with their status and last heartbeat', ['gantry agent list', 'gantry agent list --json']).action(
    async (opts: ApiOpts) => {
      const items = await clientFor(opts).listAll<Agent>('/agents');
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['NAME', (a) => a.name],
          ['STATUS', (a) => a.status],
          ['VERSION', (a) => a.version || '-'],
          ['LAST HEARTBEAT', (a) => a.lastHeartbeat],
          ['CAPABILITIES', (a) => clip(a.capabilities, 50)],
        ]),
      );
    },
  );

  apiCommand(agent, 'get <name>', 'Show one agent (by name or id)', ['gantry agent get edge-1']).action(
    async (name: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).get<Agent>(`/agents/${ref(name)}`), (a) => printRecord({ ...a }));
    },
  );
}
