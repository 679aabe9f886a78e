// Jittered exponential backoff: the delays' ceilings double to the cap, each delay is drawn under its
// ceiling by the injected random (a seeded PRNG here, so the figures are repeatable), a success starts
// over, and the report outbox and the agent's start-up requests wait what the helper says.
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { Backoff } from './backoff.js';
import { AgentHttpError, ServerUnreachableError } from './client.js';
import { ReportOutbox } from './reports.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('Backoff', () => {
  it('ceilings double from the base to the cap and stay there, even after very many failures', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000 });
    expect([1, 2, 3, 4, 5, 6, 100, 10_000].map((n) => b.ceiling(n))).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it('draws each delay from [0, ceiling) with the injected random: same seed, same delays', () => {
    const run = (seed: number) => {
      const b = new Backoff({ baseMs: 500, capMs: 30_000, random: seeded(seed) });
      return Array.from({ length: 12 }, () => b.next());
    };
    const a = run(42);
    expect(run(42)).toEqual(a);
    expect(run(43)).not.toEqual(a);
    const b = new Backoff({ baseMs: 500, capMs: 30_000 });
    a.forEach((d, i) => {
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(b.ceiling(i + 1));
    });
    // The extremes of the random map to the extremes of the window.
    expect(new Backoff({ baseMs: 500, capMs: 30_000, random: () => 0 }).next()).toBe(0);
    const high = new Backoff({ baseMs: 500, capMs: 30_000, random: () => 0.999_999 });
    expect([high.next(), high.next(), high.next()]).toEqual([499, 999, 1999]);
  });

  it('spreads agents that failed together: 1000 seeded agents after 8 failures cover the window evenly', () => {
    const delays = Array.from({ length: 1000 }, (_, i) => {
      const b = new Backoff({ baseMs: 500, capMs: 30_000, random: seeded(i + 1) });
      let d = 0;
      for (let n = 0; n < 8; n++) d = b.next();
      return d;
    });
    // 8th failure: ceiling min(30 s, 0.5 s·2^7) = 30 s; ten 3 s buckets each hold about 100 agents.
    const buckets = Array.from({ length: 10 }, () => 0);
    for (const d of delays) buckets[Math.floor(d / 3000)]! += 1;
    for (const count of buckets) {
      expect(count).toBeGreaterThan(60);
      expect(count).toBeLessThan(140);
    }
  });

  it('reset starts over from the base delay', () => {
    const b = new Backoff({ baseMs: 100, capMs: 10_000, random: () => 0.5 });
    expect([b.next(), b.next(), b.next()]).toEqual([50, 100, 200]);
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(50);
  });

  it('refuses a base above the cap or not above zero', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(/0 < base/);
    expect(() => new Backoff({ baseMs: 2000, capMs: 1000 })).toThrow(/base \(2000 ms\) <= cap \(1000 ms\)/);
  });
});

describe('ReportOutbox retries with the shared backoff', () => {
  const report = (taskId: string) => ({
    taskId,
    fencingToken: 1,
    logsPath: `/t/${taskId}/logs`,
    reportPath: `/t/${taskId}/report`,
    lines: [],
    report: { attempt: 1, fencingToken: 1, status: 'succeeded' as const, artifacts: [], observed: [] },
    savedAt: new Date().toISOString(),
  });

  /** An outbox whose server is unreachable for the first `failures` posts; the times of every post. */
  async function outbox(random: () => number, failures: number) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-outbox-'));
    const at: number[] = [];
    const o = new ReportOutbox({
      dir,
      log: () => {},
      backoff: { baseMs: 400, capMs: 400, random },
      post: async () => {
        at.push(Date.now());
        if (at.length <= failures) throw new ServerUnreachableError('refused');
        return { ok: true };
      },
    });
    return { o, at };
  }

  it('waits the delay the injected random picks: none at 0, most of the ceiling near 1', async () => {
    const fast = await outbox(() => 0, 3);
    await fast.o.add(report('a'));
    expect(await fast.o.drain(2000)).toBe(true);
    expect(fast.at).toHaveLength(4);
    expect(fast.at.at(-1)! - fast.at[0]!).toBeLessThan(300);

    const slow = await outbox(() => 0.99, 2);
    await slow.o.add(report('b'));
    expect(await slow.o.drain(3000)).toBe(true);
    expect(slow.at).toHaveLength(3);
    // Two waits of floor(0.99 · 400) = 396 ms each.
    expect(slow.at[1]! - slow.at[0]!).toBeGreaterThanOrEqual(390);
    expect(slow.at[2]! - slow.at[1]!).toBeGreaterThanOrEqual(390);
  });

  it('a refusal (4xx problem document) is not retried', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-outbox-'));
    let posts = 0;
    const o = new ReportOutbox({
      dir,
      log: () => {},
      backoff: { random: () => 0 },
      post: async () => {
        posts++;
        throw new AgentHttpError(403, 'agent_revoked', 'revoked');
      },
    });
    await o.add(report('c'));
    expect(await o.drain(1000)).toBe(true);
    expect(posts).toBe(1);
  });
});

describe('the agent start-up retries with the shared backoff', () => {
  it('waits the injected delays between registration attempts a server answers 503, and stops at a refusal', async () => {
    const at: number[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      at.push(Date.now());
      const refuse = at.length > 3;
      res.writeHead(refuse ? 400 : 503, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: refuse ? 'validation_failed' : 'unavailable', detail: refuse ? 'no' : 'starting' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const logs: string[] = [];
    try {
      const agent = new Agent({
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        joinToken: 'gjt_test',
        name: 'edge-backoff',
        stateDir: await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-backoff-')),
        executors: ['docker_host'],
        noop: true,
        concurrency: 1,
        log: (m) => logs.push(m),
        backoff: { baseMs: 100, capMs: 1000, random: () => 0.999 },
      });
      await expect(agent.start()).rejects.toThrow('no');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(at).toHaveLength(4);
    // floor(0.999 · ceiling): 99, 199, 399 ms.
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    [99, 199, 399].forEach((want, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(want - 2);
      expect(gaps[i]).toBeLessThan(want + 500);
    });
    expect(logs.filter((l) => l.startsWith('registration failed'))).toHaveLength(3);
  });
});
