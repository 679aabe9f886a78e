// Browser test support: Debian's chromium through playwright-core (never a downloaded browser), a real
// `gantry server` on a test database, API seeding, and a fake agent that runs deployment tasks over
// the agent protocol (lease → start → logs → report), so a promotion deploys without Docker.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { api, childEnv, freePort, type GantryProcess, REPO_ROOT, spawnGantry, waitReady } from '../e2e/support.js';

export const CHROMIUM = process.env.GANTRY_CHROMIUM ?? '/usr/bin/chromium';
/** Flags for chromium as root on a closed network: no sandbox, no background or component networking. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** With CI=true a missing browser is a failure; elsewhere the suite is skipped with a reason. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true')
    throw new Error(`chromium not found at ${CHROMIUM}: apt-get install -y chromium (CI must not skip the UI suite)`);
  process.stderr.write(`SKIPPED: the UI suite needs chromium at ${CHROMIUM} (apt-get install -y chromium)\n`);
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

export interface UiServer {
  base: string;
  token: string;
  proc: GantryProcess;
  call: (method: string, url: string, body?: unknown, token?: string) => Promise<any>;
}

/** Builds ui/dist when it is missing (npm install and npm run build normally have), so the server serves the UI. */
export function ensureUiBuilt(): void {
  if (existsSync(path.join(REPO_ROOT, 'ui', 'dist', 'index.html'))) return;
  const r = spawnSync('npm', ['--prefix', 'ui', 'run', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm --prefix ui run build failed');
}

/** Starts `gantry server` on the given database URL and waits until it is ready. */
export async function startServer(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<UiServer> {
  const port = await freePort();
  const token = `gty_${randomBytes(24).toString('hex')}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-ui-'));
  const proc = spawnGantry(
    ['server'],
    childEnv({
      DATABASE_URL: databaseUrl,
      GANTRY_BOOTSTRAP_TOKEN: token,
      GANTRY_PORT: String(port),
      GANTRY_DATA_DIR: dataDir,
      GANTRY_SYNC_INTERVAL_SECONDS: '0',
      ...extraEnv,
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  await waitReady(proc, base);
  const call = async (method: string, url: string, body?: unknown, as = token) => {
    const r = await api(base, method, url, as, body);
    if (r.status >= 400) throw new Error(`${method} ${url} → ${r.status}: ${r.text}`);
    return r.body;
  };
  return { base, token, proc, call };
}

/** A stand-in agent: registers with a join token, then leases tasks and reports them succeeded with logs. */
export class FakeAgent {
  private stopped = false;
  private loop: Promise<void> | undefined;
  constructor(
    private readonly server: UiServer,
    private readonly name = 'ui-agent',
  ) {}

  async start(): Promise<void> {
    const { token } = await this.server.call('POST', '/api/v1/agents/tokens', { description: 'ui tests' });
    const res = await fetch(`${this.server.base}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-token': token },
      body: JSON.stringify({ name: this.name, version: 'ui-test', capabilities: { executors: ['docker_host', 'compose_host'] } }),
    });
    if (!res.ok) throw new Error(`agent register → ${res.status}: ${await res.text()}`);
    const reg = (await res.json()) as { agentId: string; credential: string };
    const session = randomBytes(8).toString('hex');
    const post = async (url: string, body: unknown) => {
      const r = await fetch(`${this.server.base}/api/v1/agents/${reg.agentId}${url}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.credential}` },
        body: JSON.stringify(body),
      });
      if (!r.ok) throw new Error(`agent ${url} → ${r.status}: ${await r.text()}`);
      return r.json() as Promise<any>;
    };
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await post('/heartbeat', { sessionId: session });
          const { tasks } = await post('/tasks/lease', { max: 20 });
          for (const t of tasks as any[]) {
            await post(`/tasks/${t.taskId}/start`, { attempt: t.attempt, fencingToken: t.fencingToken });
            const lines = [
              `pulling ${t.components.map((c: any) => `${c.image}@${c.digest.slice(0, 19)}`).join(', ')}`,
              `starting containers on ${t.target.name}`,
              'health check: container healthy',
              `wrote sticker for release ${t.release.name}`,
            ].map((line, seq) => ({ seq, at: new Date().toISOString(), line }));
            await post(`/tasks/${t.taskId}/logs`, { attempt: t.attempt, fencingToken: t.fencingToken, lines });
            await post(`/tasks/${t.taskId}/report`, {
              attempt: t.attempt,
              fencingToken: t.fencingToken,
              status: 'succeeded',
              observed: t.components.map((c: any) => ({
                component: c.name,
                containerName: `${t.target.name}-${c.name}`,
                containerId: null,
                image: `${c.image}@${c.digest}`,
                digest: c.digest,
                running: true,
              })),
            });
          }
        } catch (err) {
          if (!this.stopped) process.stderr.write(`fake agent: ${(err as Error).message}\n`);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
