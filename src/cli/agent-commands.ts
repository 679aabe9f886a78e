// `gantry agent list|get|token create|revoke` (API commands) and `gantry agent run|rotate` (the agent
// process itself, loaded lazily from src/agent/, which talks to the server over HTTP only).

import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, collect, emit, parseIntOption } from './api-command.js';
import { ref } from './client.js';
import { CliError, clip, EXIT, printRecord, printTable } from './output.js';

interface TlsOpts {
  ca?: string;
  cert?: string;
  key?: string;
}

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

  const stateOption = '--state-dir <dir>';
  const stateHelp =
    'where the agent keeps its credential (mode 0600), stickers and unsent task reports (env GANTRY_AGENT_DIR, default ~/.gantry-agent)';
  const stateDir = (o: { stateDir?: string }) =>
    path.resolve(o.stateDir ?? process.env.GANTRY_AGENT_DIR ?? path.join(os.homedir(), '.gantry-agent'));
  const tlsOptions = (cmd: Command) =>
    cmd
      .option('--ca <file>', 'PEM CA bundle to trust for an https server with a private certificate (env GANTRY_CA_FILE)')
      .option('--cert <file>', 'PEM client certificate for mutual TLS (env GANTRY_AGENT_CERT_FILE; needs --key)')
      .option('--key <file>', 'PEM private key of --cert (env GANTRY_AGENT_KEY_FILE)');
  /** Reads the TLS files (flag, then environment) before anything connects; a bad path is exit code 2. */
  const agentTls = async (o: TlsOpts) => {
    const { loadAgentTls } = await import('../agent/client.js');
    try {
      return loadAgentTls({
        caFile: o.ca ?? (process.env.GANTRY_CA_FILE || undefined),
        certFile: o.cert ?? (process.env.GANTRY_AGENT_CERT_FILE || undefined),
        keyFile: o.key ?? (process.env.GANTRY_AGENT_KEY_FILE || undefined),
      });
    } catch (err) {
      throw new CliError((err as Error).message, EXIT.invalid);
    }
  };

  tlsOptions(
    agent
      .command('run')
      .description('Run the deployment agent: register (first time), heartbeat, lease and execute tasks. Outbound connections only.'),
  )
    .option('--server <url>', 'Gantry server URL, or several replicas separated by commas (env GANTRY_SERVER)')
    .option('--join-token <token>', 'one-time join token (gantry agent token create); needed only the first time')
    .option('--name <name>', 'agent name (default: host name)')
    .option(stateOption, stateHelp)
    .option('--executor <type>', 'target type to serve: docker_host, compose_host (repeatable; default both)', collect)
    .option('--noop', 'serve the listed target types with the noop executor (benchmarks, dry runs)')
    .option('--concurrency <n>', 'tasks run at once (default 4)')
    .option(
      '--router-command <program>',
      'a program the agent may run for routers (validate, reload, exec routers): a name or an absolute path; repeatable (env GANTRY_AGENT_ROUTER_COMMANDS; default nginx, haproxy, traefik, systemctl, kill)',
      collect,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  gantry agent run --server https://gantry.example.com --join-token gjt_…\n  gantry agent run --router-command haproxy --router-command /opt/edge/bin/edgectl   # the router programs this host allows\n  gantry agent run --state-dir /var/lib/gantry-agent   # later starts reuse the stored credential and send unsent reports first\n  gantry agent run --server https://gantry-a:8443,https://gantry-b:8443   # two replicas: requests fail over\n  gantry agent run --server https://gantry.internal:8443 --ca ca.pem --cert agent.pem --key agent-key.pem   # mutual TLS\n',
    )
    .action(
      async (
        o: {
          server?: string;
          joinToken?: string;
          name?: string;
          stateDir?: string;
          executor?: string[];
          noop?: boolean;
          concurrency?: string;
          routerCommand?: string[];
        } & TlsOpts,
      ) => {
        const server = o.server ?? process.env.GANTRY_SERVER;
        // Read by the routers (agent/command-policy.ts) whenever they run a program.
        if (o.routerCommand?.length) process.env.GANTRY_AGENT_ROUTER_COMMANDS = o.routerCommand.join(',');
        if (!server) throw new CliError('--server (or GANTRY_SERVER) is required', EXIT.invalid);
        const tls = await agentTls(o);
        const { Agent } = await import('../agent/agent.js');
        const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
        const a = new Agent({
          server,
          joinToken: o.joinToken ?? process.env.GANTRY_JOIN_TOKEN,
          name:
            o.name ??
            os
              .hostname()
              .toLowerCase()
              .replace(/[^a-z0-9._-]/g, '-'),
          stateDir: stateDir(o),
          executors: o.executor ?? ['docker_host', 'compose_host'],
          noop: Boolean(o.noop),
          concurrency: o.concurrency ? parseIntOption(o.concurrency, '--concurrency') : 4,
          log,
          tls,
          noopDir: process.env.GANTRY_AGENT_NOOP_DIR || undefined,
        });
        await a.start();
        log(`agent ${a.agentId} running against ${server}`);
        void a.revoked.then((why) => {
          log(`${why}; exiting`);
          process.exit(EXIT.auth);
        });
        const stop = (signal: string) => {
          log(`received ${signal}; finishing tasks in flight`);
          void a.stop().then(() => process.exit(0));
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      },
    );

  tlsOptions(
    agent
      .command('rotate')
      .description("Rotate this host's agent credential (run beside the agent; the old credential stops working at once)"),
  )
    .option('--server <url>', 'Gantry server URL (env GANTRY_SERVER)')
    .option(stateOption, stateHelp)
    .action(async (o: { server?: string; stateDir?: string } & TlsOpts) => {
      const server = o.server ?? process.env.GANTRY_SERVER;
      if (!server) throw new CliError('--server (or GANTRY_SERVER) is required', EXIT.invalid);
      const tls = await agentTls(o);
      const { Agent } = await import('../agent/agent.js');
      const a = new Agent({ server, name: 'rotate', stateDir: stateDir(o), executors: [], noop: true, concurrency: 1, log: () => {}, tls });
      await a.rotate();
      process.stdout.write(`rotated the credential of agent ${a.agentId}\n`);
    });
}
