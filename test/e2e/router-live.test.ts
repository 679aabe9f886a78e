// The live nginx router (format "live") with a real nginx and its njs module: a switch takes effect on
// the next request with no reload (the same nginx workers keep running, so no client connection is
// closed), keep-alive clients hammering nginx through the switch see no error, a slow request to the
// previous server finishes and the drain waits for it (counted from this host's open connections), and a
// pool directory spreads requests over the targets' files. No dockerd: the servers are Node HTTP servers.
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { establishedTo } from '../../src/agent/routers/connections.js';
import { RouterError, routerFor } from '../../src/agent/routers/index.js';
import { parseLive } from '../../src/agent/routers/nginx.js';
import { type AgentTask, strategyConfig } from '../../src/protocol/deployment.js';
import { loadToolsMissing, startNginx, type TestNginx } from './load-support.js';

const skip = loadToolsMissing();

interface Backend {
  name: string;
  port: number;
  server: http.Server;
}

/** An HTTP server answering its name; /slow answers after 1.5 s. */
async function backend(name: string): Promise<Backend> {
  const server = http.createServer((req, res) => {
    const answer = () => res.end(`${name}\n`);
    if (req.url === '/slow') setTimeout(answer, 1500);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { name, port: (server.address() as AddressInfo).port, server };
}

function task(target: string, router: Record<string, unknown>): AgentTask {
  return {
    taskId: randomUUID(),
    jobId: randomUUID(),
    attempt: 1,
    fencingToken: 1,
    mode: 'deploy',
    action: 'deploy',
    strategy: 'blue_green',
    leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
    target: { id: randomUUID(), name: target, type: 'docker_host', connection: {}, labels: {} },
    release: { id: randomUUID(), name: 'r1' },
    promotionId: null,
    environment: { id: randomUUID(), name: 'prod' },
    components: [],
    config: strategyConfig.parse({ router }),
  };
}

/** nginx's worker pids (children of the master). */
async function workers(n: TestNginx): Promise<number[]> {
  const master = Number((await readFile(n.pidFile, 'utf8')).trim());
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === master) out.push(Number(e));
  }
  return out.sort();
}

describe.skipIf(skip)('nginx live router (njs): switching without a reload', () => {
  let nginx: TestNginx;
  const b: Record<string, Backend> = {};
  const log: string[] = [];
  const say = (l: string) => log.push(l);
  const server = (name: string) => ({ component: 'web', host: '127.0.0.1', port: b[name]!.port });

  beforeAll(async () => {
    nginx = await startNginx(['app'], 'live');
    for (const n of ['blue', 'green', 'pool1', 'pool2']) b[n] = await backend(n);
  });

  afterAll(async () => {
    await nginx?.stop();
    for (const x of Object.values(b)) x.server.close();
  });

  it('switches on the next request, closes nothing, and drains the request in flight to the previous server', async () => {
    const router = routerFor(task('g1', nginx.router()))!;
    const first = await router.switchTo([server('blue')], say);
    expect(first.confirmed).toBe(true);
    expect(await first.drain(5000)).toEqual({ drained: true, ms: 0 }); // nothing served before
    expect(await nginx.get('/')).toEqual({ status: 200, text: 'blue\n' });
    expect(await router.pointsAt([server('blue')])).toBe(true);

    // Keep-alive clients (node's fetch pools connections) request back to back through the switch.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    const seen: Record<string, number> = {};
    const errors: string[] = [];
    const loop = async () => {
      while (!stop) {
        await new Promise<void>((resolve) => {
          const req = http.get(`${nginx.url}/`, { agent }, (res) => {
            let body = '';
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => {
              if (res.statusCode === 200) seen[body.trim()] = (seen[body.trim()] ?? 0) + 1;
              else errors.push(`${res.statusCode} ${body.trim()}`);
              resolve();
            });
          });
          req.on('error', (err) => {
            errors.push(err.message);
            resolve();
          });
        });
      }
    };
    const loops = Array.from({ length: 6 }, loop);
    const slow = nginx.get('/slow').catch((err: Error) => ({ status: 0, text: err.message }));
    await new Promise((r) => setTimeout(r, 300)); // the slow request is in flight to blue
    expect(await establishedTo('127.0.0.1', b.blue!.port)).toBeGreaterThanOrEqual(1);
    const before = await workers(nginx);

    const sw = await router.switchTo([server('green')], say);
    const drained = await sw.drain(10_000);
    const afterSwitch = { ...seen };
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loops);
    agent.destroy();

    expect(drained.drained).toBe(true);
    expect(sw.drainedWhen).toBe('no connection to it left');
    expect(drained.ms).toBeGreaterThan(300); // it waited for the slow request (≈ 1.2 s left of it)
    expect(drained.ms).toBeLessThan(5000);
    expect(await slow).toEqual({ status: 200, text: 'blue\n' });
    expect(errors).toEqual([]);
    expect(afterSwitch.blue).toBeGreaterThan(0);
    expect(seen.green).toBeGreaterThan(afterSwitch.green ?? 0);
    expect(await workers(nginx)).toEqual(before); // no reload: the same workers
    expect(await nginx.get('/')).toEqual({ status: 200, text: 'green\n' });
    expect(log.some((l) => /\(live: nginx reads it on its next request, no reload\)/.test(l))).toBe(true);
    expect(parseLive(await readFile(path.join(nginx.upstreamDir(), 'g1.addr'), 'utf8'))).toEqual([
      { host: '127.0.0.1', port: b.green!.port },
    ]);
  });

  it('pools the address files of several targets in one directory', async () => {
    await routerFor(task('p1', nginx.router()))!.switchTo([server('pool1')], say);
    await routerFor(task('p2', nginx.router()))!.switchTo([server('pool2')], say);
    const got = new Set<string>();
    for (let i = 0; i < 60 && got.size < 3; i++) got.add((await nginx.get('/')).text.trim());
    expect([...got].sort()).toEqual(['green', 'pool1', 'pool2']); // g1 from the first test is in the pool too
  });

  it('refuses two components in one live file, naming the fix', () => {
    const router = routerFor(task('m1', nginx.router()))!;
    expect(() =>
      router.render([
        { component: 'web', host: '127.0.0.1', port: 1 },
        { component: 'api', host: '127.0.0.1', port: 2 },
      ]),
    ).toThrow(RouterError);
    expect(() =>
      router.render([
        { component: 'web', host: '127.0.0.1', port: 1 },
        { component: 'api', host: '127.0.0.1', port: 2 },
      ]),
    ).toThrow(/put \$\{component\} in router.path/);
  });

  it('without a way to count connections, the drain is the whole drain time', async () => {
    const cfg = { ...nginx.router(), path: path.join(nginx.dir, 'nopid', '${target.name}.addr') };
    delete (cfg as { pidFile?: string }).pidFile;
    const router = routerFor(task('n1', cfg))!;
    await router.switchTo([server('blue')], say);
    const sw = await router.switchTo([server('green')], say);
    expect(sw.drainedWhen).toBe('drain time elapsed');
    const d = await sw.drain(400);
    expect(d.drained).toBe(true);
    expect(d.ms).toBeGreaterThanOrEqual(390);
    expect(log.some((l) => /cannot be counted here/.test(l))).toBe(true);
  });
});
