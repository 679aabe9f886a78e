// systemd units for the server and the agent (`gantry server|agent install-service`): a dedicated user,
// restart on failure, and the sandboxing systemd offers — the file system read-only but for the data or
// state directory, no home directories, a private /tmp, no new privileges, no capabilities.
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface UnitOptions {
  /** The account the service runs as (created by the operator: see the unit's header). */
  user: string;
  /** The server's data directory or the agent's state directory: the one place it may write. */
  dir: string;
  /** An EnvironmentFile (optional: a missing file is not an error). */
  envFile: string;
  /** The command that starts gantry: node and bin/gantry.js, absolute. */
  exec: readonly string[];
  /** Further paths the process must write (compose project directories, router configuration). */
  readWritePaths: readonly string[];
}

export interface ServerUnitOptions extends UnitOptions {
  port?: string | undefined;
}

export interface AgentUnitOptions extends UnitOptions {
  server?: string | undefined;
  /** The group that may use the Docker socket (default `docker`). */
  dockerGroup: string;
}

/** A value for an ExecStart= word: quoted when it holds anything but plain characters, `%` and `$` escaped. */
function word(v: string): string {
  const escaped = v.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[\w@%+=:,./-]+$/.test(v) ? escaped : `"${escaped.replace(/(["\\])/g, '\\$1')}"`;
}

function check(o: UnitOptions): void {
  if (!/^[a-z_][a-z0-9_-]*[$]?$/i.test(o.user) || o.user.length > 32) throw new Error(`--user must be a user name, got "${o.user}"`);
  if (o.user === 'root') throw new Error('--user root defeats the unit’s hardening; choose a dedicated user (e.g. gantry)');
  for (const p of [o.dir, o.envFile, ...o.readWritePaths]) {
    if (!path.isAbsolute(p)) throw new Error(`paths in a unit must be absolute, got "${p}"`);
    if (/\s/.test(p)) throw new Error(`paths with white space are not supported here, got "${p}"`);
  }
}

/** The lines every Gantry unit shares: restart policy and sandboxing. */
function hardening(o: UnitOptions, extra: { addressFamilies: string; namespaces: boolean }): string[] {
  const stateDir = o.dir.startsWith('/var/lib/') ? o.dir.slice('/var/lib/'.length) : undefined;
  return [
    'Restart=on-failure',
    'RestartSec=5s',
    // The process stops its own children (the embedded PostgreSQL, tasks in flight) on SIGTERM.
    'KillMode=mixed',
    'TimeoutStopSec=90s',
    'UMask=0077',
    'LimitNOFILE=65536',
    '',
    '# Sandboxing: only the data (or state) directory is writable; see `systemd-analyze security <unit>`.',
    ...(stateDir ? [`StateDirectory=${stateDir}`, 'StateDirectoryMode=0700'] : []),
    `ReadWritePaths=${[o.dir, ...o.readWritePaths].join(' ')}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictSUIDSGID=yes',
    'RestrictRealtime=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    `RestrictAddressFamilies=${extra.addressFamilies}`,
    // Plugin processes of the server get a user and network namespace of their own where the kernel allows.
    ...(extra.namespaces ? [] : ['RestrictNamespaces=yes']),
  ];
}

export function serverUnit(o: ServerUnitOptions): string {
  check(o);
  const exec = [...o.exec, 'server', '--data-dir', o.dir, ...(o.port ? ['--port', o.port] : [])];
  return `${[
    '# Gantry server. Install:',
    `#   useradd --system --home-dir ${o.dir} --shell /usr/sbin/nologin ${o.user}`,
    '#   gantry server install-service --install && systemctl daemon-reload && systemctl enable --now gantry-server',
    `# Settings (DATABASE_URL, GANTRY_PORT, GANTRY_TLS_CERT_FILE, …) go in ${o.envFile}; logs: journalctl -u gantry-server`,
    '[Unit]',
    'Description=Gantry release orchestrator (server)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `User=${o.user}`,
    `Group=${o.user}`,
    `EnvironmentFile=-${o.envFile}`,
    'Environment=GANTRY_LOG_FORMAT=json',
    `WorkingDirectory=${o.dir}`,
    `ExecStart=${exec.map(word).join(' ')}`,
    ...hardening(o, { addressFamilies: 'AF_UNIX AF_INET AF_INET6', namespaces: true }),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n')}\n`;
}

export function agentUnit(o: AgentUnitOptions): string {
  check(o);
  if (!/^[a-z_][a-z0-9_-]*$/i.test(o.dockerGroup)) throw new Error(`--docker-group must be a group name, got "${o.dockerGroup}"`);
  const exec = [...o.exec, 'agent', 'run', '--state-dir', o.dir, ...(o.server ? ['--server', o.server] : [])];
  return `${[
    '# Gantry agent. Install:',
    `#   useradd --system --home-dir ${o.dir} --shell /usr/sbin/nologin --groups ${o.dockerGroup} ${o.user}`,
    '#   gantry agent install-service --server https://gantry.example.com --install && systemctl daemon-reload',
    `#   echo GANTRY_JOIN_TOKEN=gjt_… >> ${o.envFile}   # the first start only; the credential is then kept in the state directory`,
    '#   systemctl enable --now gantry-agent; logs: journalctl -u gantry-agent',
    '[Unit]',
    'Description=Gantry deployment agent',
    'Wants=network-online.target',
    'After=network-online.target docker.service',
    '',
    '[Service]',
    'Type=simple',
    `User=${o.user}`,
    `Group=${o.user}`,
    // The Docker socket's group: the agent deploys through it without being root.
    `SupplementaryGroups=${o.dockerGroup}`,
    `EnvironmentFile=-${o.envFile}`,
    `WorkingDirectory=${o.dir}`,
    `ExecStart=${exec.map(word).join(' ')}`,
    ...hardening(o, { addressFamilies: 'AF_UNIX AF_INET AF_INET6', namespaces: false }),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n')}\n`;
}

/** Writes a unit file atomically (mode 0644, as systemd expects); creates its directory. */
export async function writeUnit(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
}

/**
 * The command line of this gantry: the node binary and the entry script, both absolute, with the node
 * options of bin/gantry.js's shebang (which is not read when node runs the script).
 */
export function thisGantry(argv1: string | undefined = process.argv[1]): string[] {
  const script = argv1 && existsSync(argv1) ? path.resolve(argv1) : undefined;
  return script ? [process.execPath, '--max-semi-space-size=4', script] : [process.execPath];
}
