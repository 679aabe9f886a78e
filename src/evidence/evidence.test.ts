// Evidence end to end: appends through the service, reads and exports through the API, verifies the
// bundle offline, and proves the verifier names the packet for each kind of tampering.
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, loopbackOutbound, type TestDb } from '../../test/helpers.js';
import type { App } from '../http/types.js';
import { type Bundle, buildEnvelope, canonicalJson, contentHashOf, parseBundle, verifyBundle } from '../protocol/evidence-format.js';
import { buildApp } from '../server.js';
import { withSystem, withTenant } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';
import { appendPacket } from './service.js';
import { ephemeralSigner, type Signer, signerFromPem } from './signer.js';

let t: TestDb;
let app: App;
let token: string;
let tenantId: string;
let envProd: string;
let envDev: string;
let promotionId: string;
const oldKey = ephemeralSigner();
const newKey = ephemeralSigner();

async function get(url: string) {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() };
}

function append(signer: Signer, env: { id: string; name: string }, n: number, promotion: string | null = null) {
  return withTenant(t.db, tenantId, (tx) =>
    appendPacket(tx, signer, {
      tenantId,
      promotionId: promotion,
      packetType: n % 2 ? 'deployment' : 'release_decision',
      content: { environment: env, promotion: { id: promotion }, n, digests: [`sha256:${'0'.repeat(63)}${n % 10}`] },
    }),
  );
}

const clone = (b: Bundle): Bundle => structuredClone(b);

beforeAll(async () => {
  t = await createTestDb();
  const boot = await bootstrap(t.db);
  token = boot.token!;
  app = await buildApp({ db: t.db, logger: false, signer: newKey, outbound: loopbackOutbound() });
  await app.ready();
  const ids = await withSystem(t.db, async (tx) => {
    const tenant = (await tx.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
    const user = (await tx.query<{ id: string }>(`SELECT id FROM users WHERE username = 'admin'`)).rows[0]!.id;
    const env = async (name: string, order: number) =>
      (
        await tx.query<{ id: string }>('INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, $2, $3) RETURNING id', [
          tenant,
          name,
          order,
        ])
      ).rows[0]!.id;
    const dev = await env('dev', 0);
    const prod = await env('prod', 1);
    const rel = (await tx.query<{ id: string }>(`INSERT INTO releases (tenant_id, name) VALUES ($1, 'r1') RETURNING id`, [tenant])).rows[0]!
      .id;
    const promo = (
      await tx.query<{ id: string }>(
        'INSERT INTO promotions (tenant_id, release_id, target_environment_id, requested_by) VALUES ($1, $2, $3, $4) RETURNING id',
        [tenant, rel, prod, user],
      )
    ).rows[0]!.id;
    return { tenant, dev, prod, promo };
  });
  tenantId = ids.tenant;
  envDev = ids.dev;
  envProd = ids.prod;
  promotionId = ids.promo;
  // Key rotation: the first packets are signed by the old key, the rest by the new one.
  for (let i = 1; i <= 12; i++) {
    const onProd = i % 3 === 0;
    await append(
      i <= 4 ? oldKey : newKey,
      onProd ? { id: envProd, name: 'prod' } : { id: envDev, name: 'dev' },
      i,
      onProd ? promotionId : null,
    );
  }
  await withSystem(t.db, (tx) => tx.query('UPDATE signing_keys SET retired_at = now() WHERE key_id = $1', [oldKey.keyId]));
});

async function exportBundle(query = ''): Promise<Bundle> {
  const r = await get(`/api/v1/evidence/export${query}`);
  expect(r.status).toBe(200);
  return parseBundle(r.body);
}

describe('evidence API', () => {
  it('lists packets in chain order with filters and a cursor, and gets one by id', async () => {
    const p1 = await get('/api/v1/evidence?limit=5');
    expect(p1.body.items.map((p: { sequence: number }) => p.sequence)).toEqual([1, 2, 3, 4, 5]);
    const p2 = await get(`/api/v1/evidence?limit=50&cursor=${p1.body.nextCursor}`);
    expect(p2.body.items.map((p: { sequence: number }) => p.sequence)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(p2.body.nextCursor).toBeNull();
    const prod = await get('/api/v1/evidence?environment=prod');
    expect(prod.body.items.map((p: { sequence: number }) => p.sequence)).toEqual([3, 6, 9, 12]);
    const byId = await get(`/api/v1/evidence?environment=${envProd}&type=release_decision`);
    expect(byId.body.items.map((p: { sequence: number }) => p.sequence)).toEqual([6, 12]);
    const promo = await get(`/api/v1/evidence?promotion=${promotionId}`);
    expect(promo.body.items).toHaveLength(4);
    const one = await get(`/api/v1/evidence/${prod.body.items[0].id}`);
    expect(one.body).toMatchObject({ sequence: 3, packetType: 'deployment', content: { environment: { name: 'prod' } } });
    expect((await get('/api/v1/evidence/00000000-0000-7000-8000-000000000000')).status).toBe(404);
    expect((await get('/api/v1/evidence?environment=nowhere')).status).toBe(404);
  });

  it('lists every key that ever signed, the retired one included', async () => {
    const keys = await get('/api/v1/evidence/keys');
    const byId = new Map(keys.body.items.map((k: { keyId: string }) => [k.keyId, k]));
    expect(byId.get(oldKey.keyId)).toMatchObject({ retiredAt: expect.any(String), publicKeyPem: oldKey.publicKeyPem });
    expect(byId.get(newKey.keyId)).toMatchObject({ retiredAt: null });
  });
});

describe('export and offline verification', () => {
  it('a whole-chain export verifies, with packets by the old and the new key', async () => {
    const b = await exportBundle();
    expect(b.chain).toMatchObject({ scope: 'chain', fromSequence: 1, toSequence: 12, anchorHash: null, headSequence: 12 });
    const r = verifyBundle(b);
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.keysUsed).toEqual([oldKey.keyId, newKey.keyId].sort());
  });

  it('an environment subset since a time verifies, bridging gaps with the chain index', async () => {
    const all = await exportBundle();
    const since = all.packets[4]!.createdAt;
    const b = await exportBundle(`?environment=prod&since=${encodeURIComponent(since)}`);
    expect(b.packets.map((p) => p.sequence)).toEqual([6, 9, 12]);
    expect(b.chain).toMatchObject({ scope: 'subset', fromSequence: 6, toSequence: 12, anchorHash: all.packets[4]!.contentHash });
    expect(b.chain.links.map((l) => l.sequence)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(verifyBundle(b).ok).toBe(true);
    // A subset whose index is stripped cannot prove the gaps.
    const stripped = clone(b);
    stripped.chain.links = [];
    expect(verifyBundle(stripped).failures[0]).toMatchObject({ index: 1, sequence: 9, check: 'chain' });
  });

  it('a promotion export verifies', async () => {
    const b = await exportBundle(`?promotion=${promotionId}`);
    expect(b.packets).toHaveLength(4);
    expect(verifyBundle(b).ok).toBe(true);
  });

  it('fails naming the packet when one byte of content changed', async () => {
    const b = clone(await exportBundle());
    const target = b.packets[6]!;
    (target.content as { n: number }).n = 8; // was 7: one digit
    const r = verifyBundle(b);
    expect(r.ok).toBe(false);
    expect(r.failures).toContainEqual(
      expect.objectContaining({ index: 6, id: target.id, packetType: 'deployment', check: 'content_hash' }),
    );
    expect(r.failures).toContainEqual(expect.objectContaining({ index: 6, check: 'envelope' }));
    // The next packet's link no longer matches the edited one.
    expect(r.failures).toContainEqual(expect.objectContaining({ index: 7, check: 'chain' }));
  });

  it('fails naming the packet after a removed one', async () => {
    const b = clone(await exportBundle());
    const removed = b.packets.splice(5, 1)[0]!;
    const r = verifyBundle(b);
    expect(r.ok).toBe(false);
    expect(r.failures).toEqual([
      expect.objectContaining({
        index: 5,
        id: b.packets[5]!.id,
        sequence: removed.sequence + 1,
        check: 'chain',
        message: expect.stringContaining(`sequence ${removed.sequence} is missing`),
      }),
    ]);
    // Removing the last packet is caught against the bundle's stated range.
    const tail = clone(await exportBundle());
    tail.packets.pop();
    expect(verifyBundle(tail).failures).toEqual([
      expect.objectContaining({ index: 10, check: 'chain', message: expect.stringContaining('later packets are missing') }),
    ]);
  });

  it('fails naming both packets when two are swapped', async () => {
    const b = clone(await exportBundle());
    const [a, c] = [b.packets[3]!, b.packets[4]!];
    b.packets[3] = c;
    b.packets[4] = a;
    const r = verifyBundle(b);
    expect(r.ok).toBe(false);
    expect(r.failures).toEqual([
      expect.objectContaining({ index: 3, id: c.id, check: 'order' }),
      expect.objectContaining({ index: 4, id: a.id, check: 'order' }),
    ]);
  });

  it('fails naming the packet signed by a key the bundle does not hold', async () => {
    const b = clone(await exportBundle());
    const rogue = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'test');
    const target = b.packets[2]!;
    target.signerKeyRef = rogue.keyId;
    target.signature = JSON.stringify(buildEnvelope(canonicalJson(target.content), rogue.keyId, (d) => rogue.sign(d)));
    const r = verifyBundle(b);
    expect(r.failures).toEqual([
      expect.objectContaining({
        index: 2,
        id: target.id,
        check: 'signature',
        message: expect.stringContaining(`signed by ${rogue.keyId}`),
      }),
    ]);
  });

  it('with --key semantics, trusts only the given key', async () => {
    const b = await exportBundle();
    const r = verifyBundle(b, [newKey.publicKeyPem]);
    expect(r.ok).toBe(false);
    expect(r.failures.map((f) => f.sequence)).toEqual([1, 2, 3, 4]);
    expect(r.failures.every((f) => f.check === 'signature')).toBe(true);
  });

  it('the stored hash is the SHA-256 of the canonical content, header included', async () => {
    const b = await exportBundle();
    for (const p of b.packets) expect(contentHashOf(canonicalJson(p.content))).toBe(p.contentHash);
    expect(b.packets[1]!.content.packet).toMatchObject({ previousHash: b.packets[0]!.contentHash, sequence: 2, tenantId });
  });
});

describe('append-only in SQL', () => {
  const attempts = [
    'UPDATE evidence_packets SET packet_type = packet_type',
    'DELETE FROM evidence_packets',
    'TRUNCATE evidence_packets CASCADE',
  ];

  it.each(attempts)('refuses "%s" as the schema owner (trigger)', async (sql) => {
    await expect(withSystem(t.db, (tx) => tx.query(sql))).rejects.toMatchObject({ code: 'GT001' });
  });

  it.each(attempts)('refuses "%s" as the app role', async (sql) => {
    await expect(withTenant(t.db, tenantId, (tx) => tx.query(sql))).rejects.toMatchObject({
      code: expect.stringMatching(/^(GT001|42501)$/),
    });
  });

  it('keeps every packet after the attempts', async () => {
    const n = await withSystem(t.db, (tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM evidence_packets'));
    expect(n.rows[0]!.n).toBe(12);
  });

  it('refuses changing or deleting a registered key, but allows retiring it', async () => {
    await expect(withSystem(t.db, (tx) => tx.query('DELETE FROM signing_keys'))).rejects.toMatchObject({ code: 'GT001' });
    await expect(
      withSystem(t.db, (tx) => tx.query(`UPDATE signing_keys SET public_key_pem = 'x' WHERE key_id = $1`, [newKey.keyId])),
    ).rejects.toMatchObject({ code: 'GT001' });
  });
});
