// Support for the HA chaos test: a seeded PRNG, a TCP load balancer in front of the replicas (as an
// operator would run one), and supervised processes whose every exit is either one the test caused
// (SIGKILL) or recorded as a failure.
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { type GantryProcess, spawnGantry } from '../e2e/support.js';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function prng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(xs: T[]): T } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

/** A round-robin TCP balancer: each connection goes to the next backend that accepts it. */
export async function startBalancer(backends: number[]): Promise<{ port: number; close(): void }> {
  let rr = 0;
  const server = net.createServer((client) => {
    client.pause();
    const start = rr++;
    const attempt = (i: number) => {
      if (i >= backends.length) {
        client.destroy();
        return;
      }
      const port = backends[(start + i) % backends.length]!;
      const upstream = net.connect({ host: '127.0.0.1', port });
      const onFail = () => {
        upstream.destroy();
        attempt(i + 1);
      };
      upstream.once('error', onFail);
      upstream.once('connect', () => {
        upstream.removeListener('error', onFail);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as net.AddressInfo;
  return { port: addr.port, close: () => server.close() };
}

export interface UnexpectedExit {
  name: string;
  code: number | string;
  stderrTail: string;
}

/** A gantry process the test may SIGKILL and start again; an exit the test did not cause is recorded. */
export class Supervised {
  proc: GantryProcess | undefined;
  private killing = false;
  kills = 0;
  starts = 0;

  constructor(
    readonly name: string,
    private readonly spawnArgs: () => { args: string[]; env: NodeJS.ProcessEnv },
    private readonly unexpected: UnexpectedExit[],
  ) {}

  get alive(): boolean {
    const c: ChildProcess | undefined = this.proc?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  start(): GantryProcess {
    const { args, env } = this.spawnArgs();
    const p = spawnGantry(args, env);
    this.proc = p;
    this.starts++;
    this.killing = false;
    void p.exited.then((code) => {
      if (this.proc === p && !this.killing) {
        const entry = { name: this.name, code, stderrTail: '' };
        this.unexpected.push(entry);
        // 'exit' can come before the last stderr bytes were read; 'close' comes after.
        const read = () => {
          entry.stderrTail = p.stderr().slice(-3000);
        };
        if (p.child.stderr?.closed) read();
        else p.child.once('close', read);
      }
    });
    return p;
  }

  /** SIGKILL, as a crash: no handler runs. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || !this.alive) return;
    this.killing = true;
    this.kills++;
    p.child.kill('SIGKILL');
    await p.exited;
  }

  /** Ends the process at the end of the test (SIGKILL; not an unexpected exit). */
  async end(): Promise<void> {
    const p = this.proc;
    if (!p || !this.alive) return;
    this.killing = true;
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/** Parses the noop executor's journal: applied changes per (job, target). */
export function countEffects(journal: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of journal.split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { jobId: string; targetId: string };
    const key = `${e.jobId}/${e.targetId}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
