// `gantry agent run|rotate`: the deployment agent process on a target host (src/agent/, loaded lazily; it
// talks to the server over HTTP only). Added to the `gantry agent` group of API commands (src/cli/).
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { collect, parseIntOption } from '../cli/api-command.js';
import { CliError, EXIT } from '../cli/output.js';
import { emitUnit, unitOrUsageError } from './service-output.js';

const AGENT_UNIT_FILE = '/etc/systemd/system/gantry-agent.service';

interface TlsOpts {
  ca?: string;
  cert?: string;
  key?: string;
}

export function registerAgentProcessCommands(program: Command): void {
  const agent =
    program.commands.find((c) => c.name() === 'agent') ??
    program.command('agent').description('Deployment agents: list them and see their heartbeat and capabilities');

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
          // Speak the first protocol even to a server offering more (compatibility checks, benchmark reference).
          firstProtocol: process.env.GANTRY_AGENT_PROTOCOL === '1',
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

  agent
    .command('install-service')
    .description(
      'Write a systemd unit for the agent: a non-root user in the docker group, restart on failure, a sandbox where only the state directory is writable',
    )
    .option('--user <name>', 'the account it runs as (created by you: useradd --system --groups docker gantry-agent)', 'gantry-agent')
    .option('--state-dir <dir>', 'state directory: credential, stickers, unsent reports (the only writable path)', '/var/lib/gantry-agent')
    .option(
      '--env-file <file>',
      'EnvironmentFile with GANTRY_SERVER, GANTRY_JOIN_TOKEN, TLS settings (may be missing)',
      '/etc/gantry/agent.env',
    )
    .option('--server <url>', 'Gantry server URL(s) (default: GANTRY_SERVER from the env file)')
    .option('--docker-group <group>', 'the group that owns the Docker socket', 'docker')
    .option(
      '--read-write-path <path>',
      'another path the agent writes: compose project directories, router configuration (repeatable)',
      collect,
    )
    .option('--output <file>', 'write the unit to this file instead of printing it')
    .option('--install', `write it to ${AGENT_UNIT_FILE}`)
    .addHelpText(
      'after',
      '\nExamples:\n  gantry agent install-service --server https://gantry.example.com --install\n  gantry agent install-service --read-write-path /srv/app --read-write-path /etc/nginx/gantry --output gantry-agent.service\n',
    )
    .action(
      async (o: {
        user: string;
        stateDir: string;
        envFile: string;
        server?: string;
        dockerGroup: string;
        readWritePath?: string[];
        output?: string;
        install?: boolean;
      }) => {
        const { agentUnit, thisGantry } = await import('./systemd.js');
        const unit = unitOrUsageError(() =>
          agentUnit({
            user: o.user,
            dir: o.stateDir,
            envFile: o.envFile,
            server: o.server,
            dockerGroup: o.dockerGroup,
            exec: thisGantry(),
            readWritePaths: o.readWritePath ?? [],
          }),
        );
        await emitUnit(unit, o, AGENT_UNIT_FILE, 'gantry-agent');
      },
    );
}
