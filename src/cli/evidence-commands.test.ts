import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../../test/cli.js';
import { createTestDb, loopbackOutbound } from '../../test/helpers.js';
import { appendPacket } from '../evidence/service.js';
import { ephemeralSigner } from '../evidence/signer.js';
import type { App } from '../http/types.js';
import { buildApp } from '../server.js';
import { withTenant } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';

const signer = ephemeralSigner();
let app: App;
let server: string;
let token: string;
let dir: string;

function gantry(args: string[], online = true): Promise<CliRun> {
  // Offline runs get an unroutable server and no token: verify must not need either.
  return runCli(args, {
    home: dir,
    env: online ? { GANTRY_SERVER: server, GANTRY_TOKEN: token } : { GANTRY_SERVER: 'http://192.0.2.1:9' },
  });
}

beforeAll(async () => {
  const { db } = await createTestDb();
  token = (await bootstrap(db)).token!;
  const tenantId = (await db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
  for (let i = 0; i < 5; i++) {
    await withTenant(db, tenantId, (tx) =>
      appendPacket(tx, signer, {
        tenantId,
        promotionId: null,
        packetType: 'deployment',
        content: { environment: { id: '0190a000-0000-7000-8000-000000000001', name: 'prod' }, n: i },
      }),
    );
  }
  app = await buildApp({ db, logger: false, signer, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-ev-cli-'));
});
afterAll(() => app.close());

describe('gantry evidence', () => {
  it('lists and exports, then verifies the bundle offline (exit 0)', async () => {
    const list = await gantry(['evidence', 'list', '--environment', '0190a000-0000-7000-8000-000000000001', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toHaveLength(5);
    const exp = await gantry(['evidence', 'export', '--since', '2000-01-01T00:00:00Z', '-o', 'b.json']);
    expect(exp.code).toBe(0);
    expect(exp.stderr).toContain('wrote 5 packet(s)');
    const ok = await gantry(['evidence', 'verify', 'b.json'], false);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('OK b.json: 5 packet(s) verified');
    writeFileSync(path.join(dir, 'pub.pem'), signer.publicKeyPem);
    expect((await gantry(['evidence', 'verify', 'b.json', '--key', 'pub.pem'], false)).code).toBe(0);
  });

  it('exits 1 and names the packet when content was edited', async () => {
    const b = JSON.parse(readFileSync(path.join(dir, 'b.json'), 'utf8'));
    b.packets[2].content.n = 7;
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(b));
    const r = await gantry(['evidence', 'verify', 'bad.json'], false);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`packet #2 ${b.packets[2].id} (deployment, sequence 3): content_hash:`);
    const json = await gantry(['evidence', 'verify', 'bad.json', '--json'], false);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).failures[0]).toMatchObject({ index: 2, check: 'content_hash' });
  });

  it('exits 1 when only another key is trusted', async () => {
    writeFileSync(path.join(dir, 'other.pem'), ephemeralSigner().publicKeyPem);
    const r = await gantry(['evidence', 'verify', 'b.json', '--key', 'other.pem'], false);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('signature: signed by');
  });

  it('exits 2 on unreadable input', async () => {
    writeFileSync(path.join(dir, 'junk.json'), '{"format": "something else"}');
    writeFileSync(path.join(dir, 'notjson.json'), 'nope');
    for (const args of [['missing.json'], ['junk.json'], ['notjson.json'], ['b.json', '--key', 'junk.json']]) {
      const r = await gantry(['evidence', 'verify', ...args], false);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
  });
});
