// What the file-based traffic routers share: atomic writes (a proxy reading the file on every request
// never sees half of it), running the operator's validate and reload commands with their stderr in the
// error, and percent arithmetic for weights.
import { execFile } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkRouterCommand } from '../command-policy.js';
import { TrafficRouterError } from './types.js';

const run = promisify(execFile);

export async function writeAtomic(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  // 0644: the proxy's workers (another user than the agent's, often) read it
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, file);
}

/** Runs an operator command (argv, no shell), bounded in time; its stderr goes into the error. */
export async function runCommand(what: string, command: readonly string[], timeoutMs = 30_000): Promise<void> {
  const [cmd, ...args] = command;
  if (!cmd) throw new TrafficRouterError(`traffic router ${what}: the command is empty; give the program and its arguments`);
  try {
    checkRouterCommand(command, `traffic router ${what}`);
  } catch (err) {
    throw new TrafficRouterError((err as Error).message);
  }
  try {
    await run(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; killed?: boolean; message: string };
    const detail = e.killed ? `no answer within ${timeoutMs / 1000} s` : (e.stderr || e.message).trim().slice(-2000);
    throw new TrafficRouterError(`traffic router ${what} (${command.join(' ')}) failed: ${detail}`);
  }
}

/**
 * Spreads `total` over `n` servers as integers that add up to `total` exactly (the first servers take
 * the remainder), so a variation's share of the whole is kept whatever its server count.
 */
export function spreadWeight(total: number, n: number): number[] {
  if (!Number.isInteger(total) || total < 0 || !Number.isInteger(n) || n < 1) throw new RangeError(`cannot spread ${total} over ${n}`);
  const base = Math.floor(total / n);
  const rest = total - base * n;
  return Array.from({ length: n }, (_, i) => base + (i < rest ? 1 : 0));
}

/**
 * Integer percents (adding up to 100 when anything has weight) from raw weights, by largest remainder,
 * so 2 servers at 1 and 2 read as 33/67 rather than 33/66.
 */
export function toPercent(raw: Record<string, number>): Record<string, number> {
  const total = Object.values(raw).reduce((n, w) => n + w, 0);
  const out: Record<string, number> = {};
  if (total === 0) {
    for (const k of Object.keys(raw)) out[k] = 0;
    return out;
  }
  const exact = Object.entries(raw).map(([k, w]) => ({ k, v: (w * 100) / total }));
  let left = 100;
  for (const e of exact) {
    out[e.k] = Math.floor(e.v);
    left -= out[e.k]!;
  }
  for (const e of [...exact].sort((a, b) => (b.v % 1) - (a.v % 1)).slice(0, left)) out[e.k]! += 1;
  return out;
}

/** The parts of a split a shift may not change: servers, header and sticky cookie (weights excluded). */
export function splitShape(split: { variations: { name: string; servers: unknown[] }[]; header?: unknown; sticky?: unknown }): string {
  return JSON.stringify({
    variations: split.variations.map((v) => ({ name: v.name, servers: v.servers })),
    header: split.header ?? null,
    sticky: split.sticky ?? null,
  });
}
