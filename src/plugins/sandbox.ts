// The plugin sandbox: how a plugin process is started so that it runs with less than the server has.
//
// 1. Node's permission model (--experimental-permission): reads only of the runner, the plugin's package
//    and its work directory; writes only in the work directory; no child processes, workers, addons,
//    WASI or inspector.
// 2. As root: an unprivileged user (GANTRY_PLUGIN_USER, default nobody), set by setpriv(1) with no new
//    privileges and no capabilities. The package is root-owned and read-only to it; the work directory is its own.
// 3. No network at the OS level: a fresh network namespace (unshare(1) --net as root, --user --net
//    otherwise) where only a down loopback exists. Probed once; where the kernel refuses, layer 4 stays.
// 4. The runner's network guard (runner.ts), in every case: connections, listening, UDP, DNS and fetch
//    are refused with a clear error before the plugin's code is imported. host.fetch (net.ts) is the way out.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../core/logger.js';

export interface PluginUser {
  name: string;
  uid: number;
  gid: number;
}

export interface SandboxMode {
  /** Set when the server runs as root: plugins run as this user. */
  user: PluginUser | undefined;
  /** How the process gets a network namespace of its own, or why it does not. */
  netns: 'root' | 'user' | 'none';
  /** Why netns is 'none' (the runner's guard is then the only network layer). */
  netnsReason?: string;
}

export interface SandboxPaths {
  runnerFile: string;
  packageDir: string;
  workDir: string;
  entry: string;
}

const run = (file: string, args: string[], opts: { uid?: number; gid?: number } = {}) =>
  new Promise<{ ok: boolean; out: string }>((resolve) => {
    execFile(file, args, { timeout: 10_000, ...opts }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: `${stdout}${stderr}`.trim() || (err?.message ?? '') }),
    );
  });

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** GANTRY_PLUGIN_USER: a user name (its primary group is used) or uid:gid; default nobody. */
export async function resolvePluginUser(env: NodeJS.ProcessEnv = process.env): Promise<PluginUser> {
  const want = env.GANTRY_PLUGIN_USER?.trim() || 'nobody';
  const ids = /^(\d+):(\d+)$/.exec(want);
  if (ids) return { name: want, uid: Number(ids[1]), gid: Number(ids[2]) };
  const r = await run('getent', ['passwd', want]);
  const fields = r.ok ? r.out.split('\n')[0]?.split(':') : undefined;
  if (!fields || fields.length < 4) {
    throw new Error(
      `the plugin user "${want}" (GANTRY_PLUGIN_USER) does not exist: create it (useradd --system --no-create-home ${want}) or set GANTRY_PLUGIN_USER to an existing user or uid:gid`,
    );
  }
  const uid = Number(fields[2]);
  if (uid === 0) throw new Error(`the plugin user "${want}" (GANTRY_PLUGIN_USER) is root; plugins must run unprivileged`);
  return { name: want, uid, gid: Number(fields[3]) };
}

const SETPRIV = (u: PluginUser) => [
  'setpriv',
  `--reuid=${u.uid}`,
  `--regid=${u.gid}`,
  '--clear-groups',
  '--no-new-privs',
  '--inh-caps=-all',
  '--bounding-set=-all',
  '--',
];

let probed: Promise<SandboxMode> | undefined;

/** Finds out once per server process what this machine allows (user, network namespace). */
export function sandboxMode(env: NodeJS.ProcessEnv = process.env): Promise<SandboxMode> {
  probed ??= (async (): Promise<SandboxMode> => {
    if (!process.allowedNodeEnvironmentFlags.has('--experimental-permission')) {
      throw new Error(`plugins need Node's permission model (Node 20.19 or later); this is Node ${process.version}`);
    }
    if (isRoot()) {
      const user = await resolvePluginUser(env);
      const p = await run('unshare', ['--net', '--', ...SETPRIV(user), 'true']);
      if (p.ok) return { user, netns: 'root' };
      // setpriv or unshare missing, or no CAP_SYS_ADMIN (a container): fail closed on the user, not the network.
      const setpriv = await run('setpriv', [...SETPRIV(user).slice(1), 'true']);
      if (!setpriv.ok) {
        throw new Error(
          `plugins cannot be started as ${user.name}: setpriv (util-linux) failed: ${setpriv.out}. Install util-linux, or run the server as an unprivileged user`,
        );
      }
      return { user, netns: 'none', netnsReason: `unshare --net failed: ${p.out}` };
    }
    const p = await run('unshare', ['--user', '--net', '--', 'true']);
    return p.ok
      ? { user: undefined, netns: 'user' }
      : { user: undefined, netns: 'none', netnsReason: `unshare --user --net failed: ${p.out}` };
  })();
  return probed;
}

/** The command that starts a sandboxed plugin process: [file, ...args]. */
export function sandboxCommand(mode: SandboxMode, paths: SandboxPaths, memoryMb: number): string[] {
  const node = [
    process.execPath,
    '--experimental-permission',
    `--allow-fs-read=${paths.runnerFile}`,
    `--allow-fs-read=${paths.packageDir}`,
    `--allow-fs-read=${paths.workDir}`,
    `--allow-fs-write=${paths.workDir}`,
    '--disable-warning=ExperimentalWarning',
    `--max-old-space-size=${memoryMb}`,
    paths.runnerFile,
    paths.entry,
  ];
  const drop = mode.user ? SETPRIV(mode.user) : [];
  if (mode.netns === 'root') return ['unshare', '--net', '--', ...drop, ...node];
  if (mode.netns === 'user') return ['unshare', '--user', '--net', '--', ...node];
  return [...drop, ...node];
}

/** Which layers plugins get here, for the log. */
export function describeMode(mode: SandboxMode): Record<string, unknown> {
  return {
    permissionModel: true,
    user: mode.user ? `${mode.user.name} (${mode.user.uid}:${mode.user.gid})` : 'the server’s (not root)',
    networkNamespace: mode.netns,
    ...(mode.netnsReason ? { networkNamespaceUnavailable: mode.netnsReason } : {}),
  };
}

/**
 * Makes the plugin's directories right for its user: the package root-owned and readable, the work
 * directory its own and private. As root, every directory above the package must let others pass
 * (o+x): the cache and plugin directories are made 0711 (pass, not list), the data directory above
 * them gets o+x (the secrets in it are 0600 files), and any other ancestor that does not let others
 * pass is an error naming it.
 */
export async function prepareDirs(mode: SandboxMode, cacheDir: string, pluginDir: string, workDir: string): Promise<void> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  if (!mode.user) return;
  const { uid, gid, name } = mode.user;
  await chown(workDir, uid, gid);
  await chmod(workDir, 0o700);
  const parent = await stat(path.dirname(cacheDir));
  if ((parent.mode & 0o001) === 0) await chmod(path.dirname(cacheDir), (parent.mode & 0o7777) | 0o001);
  await chmod(cacheDir, 0o711);
  await chmod(pluginDir, 0o711);
  for (let dir = path.dirname(path.dirname(cacheDir)); ; dir = path.dirname(dir)) {
    const s = await stat(dir);
    const passes = s.uid === uid ? s.mode & 0o100 : s.gid === gid ? s.mode & 0o010 : s.mode & 0o001;
    if (!passes) {
      throw new Error(
        `the plugin user ${name} cannot reach ${cacheDir}: ${dir} does not let others pass (chmod o+x ${dir}), or keep the data directory under one that does (e.g. /var/lib/gantry)`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
}

// runner.ts is copied beside the packages (<cacheDir>/.runner/<hash>/runner.mjs) so the plugin process
// reads nothing of the server's installation. From source (tsx) it is transpiled here first: the
// TypeScript loader itself could not run under the permission model.
const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');
const RUNNER_SOURCE = path.join(path.dirname(here), fromSource ? 'runner.ts' : 'runner.js');
let runnerJs: Promise<string> | undefined;

async function runnerCode(): Promise<string> {
  runnerJs ??= (async () => {
    const text = await readFile(RUNNER_SOURCE, 'utf8');
    if (!fromSource) return text.replace(/^\/\/# sourceMappingURL=.*$/m, '');
    // esbuild, as tsx (which runs the server from source) has it: already loaded, and fast.
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx'));
    const esbuild = fromTsx('esbuild') as { transform(code: string, options: Record<string, string>): Promise<{ code: string }> };
    return (await esbuild.transform(text, { loader: 'ts', format: 'esm', target: 'node20' })).code;
  })();
  return runnerJs;
}

/** Writes the runner into the cache (once per content) and returns its path; readable by the plugin user. */
export async function installRunner(cacheDir: string): Promise<string> {
  const code = await runnerCode();
  const dir = path.join(cacheDir, '.runner', createHash('sha256').update(code).digest('hex').slice(0, 16));
  const file = path.join(dir, 'runner.mjs');
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(path.dirname(dir), 0o755);
  await chmod(dir, 0o755);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, code, { mode: 0o644 });
  await chmod(tmp, 0o644);
  await rename(tmp, file);
  return file;
}

/** Logs once which layers plugins get on this machine, and what is missing. */
export function logSandbox(logger: Logger | undefined, mode: SandboxMode): void {
  logger?.info(describeMode(mode), 'plugin sandbox');
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major === 20 && minor < 20) {
    logger?.warn({ node: process.version }, 'plugins: use Node 20.20 or later, which has the latest fixes to the permission model');
  }
  if (mode.netns === 'none') {
    logger?.warn(
      { reason: mode.netnsReason },
      'plugins get no network namespace here (the runner still refuses their connections); see docs/operations.md#plugins',
    );
  }
}
