// A PostgreSQL 15 cluster of the test's own (Debian's binaries), so a test can restart it with
// `pg_ctl restart -m immediate` — a crash as far as every client is concerned — without touching the
// database other tests share. initdb refuses root, so as root it runs as the postgres user in a
// directory that user owns (the recipe of .ci/run).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../e2e/support.js';

const run = promisify(execFile);
export const PG15_BIN = process.env.GANTRY_PG15_BIN ?? '/usr/lib/postgresql/15/bin';

/** Whether Debian's PostgreSQL 15 is installed; with CI=true its absence is a failure, never a skip. */
export function pg15Available(): boolean {
  if (existsSync(path.join(PG15_BIN, 'initdb')) && existsSync(path.join(PG15_BIN, 'pg_ctl'))) return true;
  const msg = `the chaos tests need PostgreSQL 15 in ${PG15_BIN} (apt-get install -y postgresql-15)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return false;
}

export interface Pg15 {
  url: string;
  dir: string;
  /** Crash-restart: every connection is cut at once, the server recovers from WAL. */
  restartImmediate(): Promise<void>;
  stop(): Promise<void>;
}

const isRoot = () => process.getuid?.() === 0;

async function asPostgres(cmd: string, args: string[]): Promise<void> {
  if (isRoot()) await run('runuser', ['-u', 'postgres', '--', cmd, ...args], { timeout: 120_000 });
  else await run(cmd, args, { timeout: 120_000 });
}

export async function startPg15(): Promise<Pg15> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-chaos-pg15-'));
  await chmod(dir, 0o755);
  if (isRoot()) await run('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  const port = await freePort();
  await asPostgres(path.join(PG15_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off`;
  const ctl = (args: string[]) => asPostgres(path.join(PG15_BIN, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), ...args]);
  await ctl(['-w', '-t', '60', '-o', opts, 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    restartImmediate: () => ctl(['-w', '-t', '60', '-m', 'immediate', '-o', opts, 'restart']),
    stop: async () => {
      await ctl(['-w', '-t', '60', '-m', 'fast', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
