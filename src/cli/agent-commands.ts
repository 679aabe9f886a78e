// `gantry agent list|get|token create|revoke`: API commands. `gantry agent run|rotate` (the agent process
// itself) are in src/host/agent-commands.ts.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, collect, emit, parseIntOption } from './api-command.js';
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

interface AgentCertificate {
  fingerprint: string;
  serial: string | null;
  subject: string;
  revokedAt: string | null;
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

  const token = agent.command('token').description('One-time join tokens for new agents');
  apiCommand(token, 'create', 'Create a single-use join token (shown once)', [
    'gantry agent token create',
    'gantry agent token create --expires-in 600 --label site=berlin',
  ])
    .option('--expires-in <seconds>', 'how long the token can be used (default 3600)')
    .option('--description <text>', 'what the token is for')
    .option('--label <key=value>', 'label for the agent that registers with it (repeatable)', collect)
    .action(async (opts: ApiOpts & { expiresIn?: string; description?: string; label?: string[] }) => {
      const labels = Object.fromEntries((opts.label ?? []).map((l) => l.split('=', 2) as [string, string]));
      const body = {
        ...(opts.expiresIn ? { expiresInSeconds: parseIntOption(opts.expiresIn, '--expires-in') } : {}),
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.label ? { labels } : {}),
      };
      const t = await clientFor(opts).post<{ id: string; token: string; expiresAt: string }>('/agents/tokens', body);
      emit(opts, t, (x) =>
        process.stdout.write(`${x.token}\n(single use, expires ${x.expiresAt}; run: gantry agent run --server URL --join-token TOKEN)\n`),
      );
    });

  apiCommand(
    agent,
    'revoke <name>',
    'Revoke an agent: its credential and client certificates stop working at once (every replica) and its tasks are re-queued',
    [
      'gantry agent revoke edge-1',
      'gantry agent revoke edge-1 --certificate "$(openssl x509 -noout -fingerprint -sha256 -in old-agent.pem)"   # one certificate only',
    ],
  )
    .option('--certificate <sha256>', 'revoke only this client certificate (SHA-256 fingerprint); the agent keeps working with another')
    .action(async (name: string, opts: ApiOpts & { certificate?: string }) => {
      const body = opts.certificate ? { certificate: opts.certificate } : {};
      emit(opts, await clientFor(opts).post<Agent & { certificates?: AgentCertificate[] }>(`/agents/${ref(name)}/revoke`, body), (a) => {
        const { certificates, ...rest } = a;
        printRecord({ ...rest });
        if (certificates?.length) {
          process.stdout.write('\nclient certificates:\n');
          printTable(certificates, [
            ['FINGERPRINT', (c) => c.fingerprint],
            ['SERIAL', (c) => c.serial],
            ['SUBJECT', (c) => c.subject],
            ['REVOKED', (c) => c.revokedAt],
          ]);
        }
      });
    });
}
