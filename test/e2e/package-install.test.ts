// e2e, as an operator installing a release: `npm pack` makes the package (prepack builds dist/ and the UI),
// `npm install -g` puts it into an empty prefix, and the README's tour runs against the installed `gantry`
// in an empty directory — the server on its embedded PostgreSQL, the CLI finding ./.gantry/admin.token by
// itself, a noop agent, a component synced from a real registry, a release and a promotion that deploys.
// Nothing of the checkout is used by the installed processes: no sources, no tsx, no dev dependencies.
// Slow (a build and an install): runs with GANTRY_PACKAGE_TESTS=1, as .ci/run does.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, registryToolsMissing, startRegistry, type TestRegistry } from '../support/registry.js';
import { freePort, REPO_ROOT } from './support.js';

const run = promisify(execFile);
const enabled = process.env.GANTRY_PACKAGE_TESTS === '1';
const T = 900_000;

/** The environment of an installed gantry: nothing of the checkout, npm's or the test run's settings. */
function installedEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('GANTRY_') || k.startsWith('npm_') || k === 'DATABASE_URL' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, GANTRY_LOG_LEVEL: 'warn', NO_COLOR: '1', ...extra };
}

/** npm without the settings `npm test` hands its children (prefix, scripts' environment). */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') && !k.startsWith('GANTRY_')) env[k] = v;
  return env;
}

describe.skipIf(!enabled || Boolean(registryToolsMissing()))('the npm package, installed and toured', () => {
  let work: string;
  let prefix: string;
  let home: string;
  let reg: TestRegistry;
  let server: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  let serverErr = '';

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'gantry-pkg-'));
    // As root the embedded PostgreSQL runs as the postgres user, who must reach the installed binaries and
    // the data directory (as under /usr/lib/node_modules; mkdtemp makes the directory 0700).
    await chmod(work, 0o755);
    prefix = path.join(work, 'prefix');
    home = path.join(work, 'home');
    await mkdir(home);
    reg = await startRegistry();
  }, 60_000);

  afterAll(async () => {
    for (const p of [agent, server]) {
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
    }
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it(
    'packs, installs into an empty prefix, and runs the README tour with the installed gantry',
    async () => {
      const t0 = Date.now();
      const packed = await run('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: REPO_ROOT,
        env: npmEnv(),
        maxBuffer: 64 * 1024 * 1024,
      });
      // The prepack build writes to the same stdout; npm's JSON is the last top-level array.
      const json0 = [...packed.stdout.matchAll(/^\[$/gm)].at(-1)?.index ?? 0;
      const [info] = JSON.parse(packed.stdout.slice(json0)) as [{ filename: string; files: { path: string }[] }];
      const files = info.files.map((f) => f.path);
      expect(files).toContain('dist/main.js');
      expect(files).toContain('dist/store/migrations/000001_schema.sql');
      expect(files).toContain('ui/dist/index.html');
      expect(files).toContain('share/nginx/gantry-route.js');
      expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('ui/src/'))).toEqual([]);
      expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
      const tgz = path.join(work, path.basename(info.filename));
      process.stderr.write(`package: ${path.basename(tgz)}, ${files.length} files, packed in ${Date.now() - t0} ms\n`);

      // Installed from an empty directory, as an operator would: npm's own client, a prefix of its own.
      const empty = path.join(work, 'empty');
      await mkdir(empty);
      const t1 = Date.now();
      await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tgz], {
        cwd: empty,
        env: npmEnv(),
        maxBuffer: 64 * 1024 * 1024,
      });
      process.stderr.write(`installed in ${Date.now() - t1} ms\n`);
      const pkgDir = path.join(prefix, 'lib', 'node_modules', 'gantry');
      expect(existsSync(path.join(pkgDir, 'dist', 'main.js'))).toBe(true);
      expect(existsSync(path.join(pkgDir, 'src'))).toBe(false);
      // Runtime dependencies only: tsx, typescript and vitest are not installed with the package.
      for (const dev of ['tsx', 'typescript', 'vitest', '@biomejs/biome']) {
        expect(existsSync(path.join(pkgDir, 'node_modules', dev)), dev).toBe(false);
      }
      const gantryBin = path.join(prefix, 'bin', 'gantry');
      expect((await readdir(path.join(prefix, 'bin'))).includes('gantry')).toBe(true);

      // The tour, in a fresh directory: `gantry server` keeps its data in ./.gantry, and the CLI on the same
      // machine finds ./.gantry/admin.token by itself.
      const tour = path.join(work, 'tour');
      await mkdir(tour);
      const port = await freePort();
      const env = installedEnv({ HOME: home, GANTRY_PORT: String(port), GANTRY_OUTBOUND_ALLOW: reg.host });
      server = spawn(gantryBin, ['server', '--host', '127.0.0.1', '--log-format', 'pretty', '--log-level', 'info'], {
        cwd: tour,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stderr?.on('data', (d: Buffer) => {
        serverErr += d.toString();
      });
      let serverOut = '';
      server.stdout?.on('data', (d: Buffer) => {
        serverOut += d.toString();
      });
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 120_000;
      for (;;) {
        if (server.exitCode !== null) throw new Error(`gantry server exited ${server.exitCode}:\n${serverErr}`);
        const ok = await fetch(`${base}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`gantry server not ready:\n${serverErr}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(serverErr).toMatch(/Admin token \(also in .*\.gantry\/admin\.token/);
      // --log-format pretty: one readable line per entry, not JSON.
      expect(serverOut).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}database migrated applied=/m);
      const ui = await fetch(`${base}/`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toMatch(/<div id="root">/);

      const gantry = async (...args: string[]) => {
        const r = await run(gantryBin, args, { cwd: tour, env, maxBuffer: 16 * 1024 * 1024 }).catch(
          (err: { code?: number; stdout?: string; stderr?: string }) => {
            throw new Error(`gantry ${args.join(' ')} exited ${err.code}: ${err.stderr ?? ''}${err.stdout ?? ''}`);
          },
        );
        return r.stdout;
      };
      const json = async (...args: string[]) => JSON.parse(await gantry(...args, '--json'));

      expect(await gantry('--help')).toMatch(/promote/);
      await gantry('env', 'create', 'dev');
      await gantry('env', 'create', 'staging', '--required-approvals', '1');
      expect((await json('env', 'list')).map((e: { name: string }) => e.name)).toEqual(['dev', 'staging']);
      await gantry('target', 'create', 'web-1', '--env', 'dev', '--type', 'docker_host', '--docker-host', 'unix:///var/run/docker.sock');
      await gantry(
        'integration',
        'create',
        'local-registry',
        '--type',
        'oci_registry',
        '--config',
        JSON.stringify({ url: reg.url, insecure: true }),
      );
      await pushImage(reg, 'demo/web', '1.4.0');
      await gantry('component', 'create', 'web', '--image', `${reg.host}/demo/web`, '--registry', 'local-registry');
      await gantry('component', 'sync', 'web');
      expect((await json('component', 'versions', 'web')).map((v: { tag: string }) => v.tag)).toContain('1.4.0');
      await gantry('release', 'create', '1.4.0', '--component', 'web@stable');
      const ready = await json('release', 'ready', '1.4.0');
      expect(ready.status).toBe('ready');
      expect(ready.components[0].digest).toMatch(/^sha256:[0-9a-f]{64}$/);

      const { token } = await json('agent', 'token', 'create');
      agent = spawn(
        gantryBin,
        ['agent', 'run', '--server', base, '--join-token', token, '--name', 'edge-1', '--noop', '--state-dir', path.join(work, 'agent')],
        { cwd: tour, env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let agentErr = '';
      agent.stderr?.on('data', (d: Buffer) => {
        agentErr += d.toString();
      });
      for (let i = 0; ; i++) {
        const agents = await json('agent', 'list');
        if (agents.some((a: { name: string; status: string }) => a.name === 'edge-1' && a.status === 'online')) break;
        if (i > 100 || agent.exitCode !== null) throw new Error(`the agent did not come online:\n${agentErr}`);
        await new Promise((r) => setTimeout(r, 200));
      }

      const promoted = await json('promote', '1.4.0', '--to', 'dev', '--wait');
      expect(promoted.status).toBe('deployed');
      const jobs = await json('deploy', 'list', '--env', 'dev');
      expect(jobs[0].status).toBe('succeeded');

      // The installed doctor: server, database, clock, token, the agent and the registry all fine.
      const doctor = await json('doctor');
      expect(
        doctor.checks.filter((c: { status: string }) => c.status !== 'ok'),
        JSON.stringify(doctor),
      ).toEqual([]);
      expect(doctor.checks.map((c: { name: string }) => c.name)).toEqual([
        'server',
        'database',
        'clock',
        'token',
        'agents',
        'registry local-registry',
      ]);

      await gantry('evidence', 'export', '--environment', 'dev', '-o', path.join(work, 'dev-evidence.json'));
      expect(await gantry('evidence', 'verify', path.join(work, 'dev-evidence.json'))).toMatch(/^OK/);

      agent.kill('SIGTERM');
      server.kill('SIGTERM');
      const code = await new Promise((r) => server?.once('exit', (c, s) => r(c ?? s)));
      expect(code, serverErr).toBe(0);
      // The embedded PostgreSQL stopped with the server.
      expect(existsSync(path.join(tour, '.gantry', 'pg', 'postmaster.pid'))).toBe(false);
      expect(await readFile(path.join(tour, '.gantry', 'admin.token'), 'utf8')).toMatch(/\S/);
    },
    T,
  );
});
