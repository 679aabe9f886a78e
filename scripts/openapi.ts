// Writes the OpenAPI document of the API to ui/src/api/openapi.json (and stdout with --stdout), without a
// database: only route schemas are needed, so the app gets a pool whose every query answers no rows
// (start-up hooks such as registering the signing key then do nothing).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/server.js';
import type { Db } from '../src/store/db.js';

const empty = async () => ({ rows: [], rowCount: 0 });
const client = { query: empty, release: () => {} };
const db = { query: empty, connect: async () => client, end: async () => {}, on: () => db } as unknown as Db;

const app = await buildApp({ db, logger: false });
await app.ready();
const doc = JSON.stringify(app.swagger(), null, 2);
await app.close();
if (process.argv.includes('--stdout')) {
  process.stdout.write(`${doc}\n`);
} else {
  const out = fileURLToPath(new URL('../ui/src/api/openapi.json', import.meta.url));
  await writeFile(out, `${doc}\n`);
  process.stderr.write(`wrote ${out}\n`);
}
