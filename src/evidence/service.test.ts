import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/helpers.js';
import { canonicalJson, contentHashOf } from '../protocol/evidence-format.js';
import { withSystem, withTenant } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';
import { appendPacket, appendPackets, findReusable, recordPacket } from './service.js';
import { ephemeralSigner } from './signer.js';

let t: TestDb;
let tenantA: string;
let tenantB: string;
const signer = ephemeralSigner();

beforeAll(async () => {
  t = await createTestDb();
  await bootstrap(t.db);
  tenantA = (await t.db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
  tenantB = (await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('other') RETURNING id`)).rows[0]!.id;
});

const content = (n: number) => ({ environment: { id: '00000000-0000-7000-8000-000000000001', name: 'prod' }, n });

describe('evidence service', () => {
  it('appends a first packet with a signed header and no previous hash', async () => {
    const p = await withTenant(t.db, tenantA, (tx) =>
      appendPacket(tx, signer, { tenantId: tenantA, promotionId: null, packetType: 'deployment', content: content(0) }),
    );
    expect(p.sequence).toBe(1);
    expect(p.previousHash).toBeNull();
    expect(p.signerKeyRef).toBe(signer.keyId);
    expect(p.content.packet).toMatchObject({
      type: 'deployment',
      tenantId: tenantA,
      sequence: 1,
      previousHash: null,
      createdAt: p.createdAt,
    });
    expect(p.contentHash).toBe(contentHashOf(canonicalJson(p.content)));
  });

  it('20 concurrent appends in one tenant form one unbroken chain', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        withTenant(t.db, tenantA, (tx) =>
          appendPacket(tx, signer, { tenantId: tenantA, promotionId: null, packetType: 'release_decision', content: content(i + 1) }),
        ),
      ),
    );
    const rows = await withSystem(t.db, (tx) =>
      tx.query<{ seq: number; content_hash: string; previous_hash: string | null }>(
        'SELECT seq, content_hash, previous_hash FROM evidence_packets WHERE tenant_id = $1 ORDER BY seq',
        [tenantA],
      ),
    );
    expect(rows.rows.map((r) => r.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    for (const [i, r] of rows.rows.entries()) expect(r.previous_hash).toBe(i === 0 ? null : rows.rows[i - 1]!.content_hash);
  });

  it('records a packet without reading it back, linked into the chain like an appended one', async () => {
    const before = await withTenant(t.db, tenantA, (tx) =>
      appendPacket(tx, signer, { tenantId: tenantA, promotionId: null, packetType: 'deployment', content: content(100) }),
    );
    await withTenant(t.db, tenantA, (tx) =>
      recordPacket(tx, signer, { tenantId: tenantA, promotionId: null, packetType: 'deployment', content: content(101) }),
    );
    const r = await withSystem(t.db, (tx) =>
      tx.query<{ seq: string; content: { n: number; packet: { previousHash: string } }; content_hash: string; previous_hash: string }>(
        'SELECT seq, content, content_hash, previous_hash FROM evidence_packets WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
        [tenantA],
      ),
    );
    const row = r.rows[0]!;
    expect(Number(row.seq)).toBe(before.sequence + 1);
    expect(row.content.n).toBe(101);
    expect(row.previous_hash).toBe(before.contentHash);
    expect(row.content.packet.previousHash).toBe(before.contentHash);
    expect(row.content_hash).toBe(contentHashOf(canonicalJson(row.content)));
  });

  it('keeps one chain per tenant', async () => {
    const p = await withTenant(t.db, tenantB, (tx) =>
      appendPacket(tx, signer, { tenantId: tenantB, promotionId: null, packetType: 'rollback', content: content(99) }),
    );
    expect(p.sequence).toBe(1);
    expect(p.previousHash).toBeNull();
  });

  it('finds a reusable packet by its reuse key, only for the same type and tenant', async () => {
    const key = `sha256:${'ab'.repeat(32)}`;
    const first = await withTenant(t.db, tenantA, async (tx) => {
      expect(await findReusable(tx, tenantA, 'release_decision', key)).toBeUndefined();
      return appendPacket(tx, signer, {
        tenantId: tenantA,
        promotionId: null,
        packetType: 'release_decision',
        content: content(50),
        reuseKey: key,
      });
    });
    const again = await withTenant(t.db, tenantA, (tx) => findReusable(tx, tenantA, 'release_decision', key));
    expect(again?.id).toBe(first.id);
    expect(again?.reuseKey).toBe(key);
    expect(await withTenant(t.db, tenantA, (tx) => findReusable(tx, tenantA, 'deployment', key))).toBeUndefined();
    expect(await withTenant(t.db, tenantB, (tx) => findReusable(tx, tenantB, 'release_decision', key))).toBeUndefined();
  });
});

describe('batched appends', () => {
  const chainOf = (tenantId: string) =>
    withSystem(t.db, (tx) =>
      tx.query<{ seq: number; content_hash: string; previous_hash: string | null }>(
        'SELECT seq, content_hash, previous_hash FROM evidence_packets WHERE tenant_id = $1 ORDER BY seq',
        [tenantId],
      ),
    ).then((r) => r.rows);

  it('appends a batch in order, each packet linked to the one before, under one timestamp', async () => {
    const before = (await chainOf(tenantA)).at(-1)!;
    const batch = await withTenant(t.db, tenantA, (tx) =>
      appendPackets(
        tx,
        signer,
        [1, 2, 3].map((n) => ({
          tenantId: tenantA,
          promotionId: null,
          packetType: 'deployment' as const,
          content: content(100 + n),
          reuseKey: `k-${n}`,
        })),
      ),
    );
    expect(batch.map((p) => p.sequence)).toEqual([before.seq + 1, before.seq + 2, before.seq + 3]);
    expect(batch.map((p) => p.previousHash)).toEqual([before.content_hash, batch[0]!.contentHash, batch[1]!.contentHash]);
    expect(batch.map((p) => (p.content as { n: number }).n)).toEqual([101, 102, 103]);
    expect(batch.map((p) => p.reuseKey)).toEqual(['k-1', 'k-2', 'k-3']);
    for (const p of batch) {
      expect(p.contentHash).toBe(contentHashOf(canonicalJson(p.content)));
      expect(p.content.packet).toMatchObject({ sequence: p.sequence, previousHash: p.previousHash, createdAt: batch[0]!.createdAt });
    }
    expect(await withTenant(t.db, tenantA, (tx) => appendPackets(tx, signer, []))).toEqual([]);
  });

  it('writes nothing of a batch when one packet is refused, and refuses batches across tenants', async () => {
    const count = (await chainOf(tenantA)).length;
    const ok = { tenantId: tenantA, promotionId: null, packetType: 'deployment' as const, content: content(1) };
    await expect(
      withTenant(t.db, tenantA, (tx) => appendPackets(tx, signer, [ok, { ...ok, content: { packet: 'mine' } }])),
    ).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(withTenant(t.db, tenantA, (tx) => appendPackets(tx, signer, [ok, { ...ok, content: { n: Number.NaN } }]))).rejects.toThrow(
      /canonical JSON/,
    );
    await expect(withTenant(t.db, tenantA, (tx) => appendPackets(tx, signer, [ok, { ...ok, tenantId: tenantB }]))).rejects.toThrow(
      /same tenant/,
    );
    // A reuse key the schema refuses fails the one INSERT: none of the batch is written.
    await expect(
      withTenant(t.db, tenantA, (tx) => appendPackets(tx, signer, [ok, { ...ok, reuseKey: 'not allowed: spaces' }])),
    ).rejects.toMatchObject({ code: '23514' });
    expect((await chainOf(tenantA)).length).toBe(count);
  });

  it('concurrent batches and single appends form one unbroken chain', async () => {
    const input = (n: number) => ({ tenantId: tenantA, promotionId: null, packetType: 'release_decision' as const, content: content(n) });
    const before = (await chainOf(tenantA)).length;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        withTenant(t.db, tenantA, async (tx) => {
          if (i % 3 === 0) await appendPacket(tx, signer, input(i));
          else await appendPackets(tx, signer, [input(i), input(i + 100), input(i + 200)]);
        }),
      ),
    );
    const rows = await chainOf(tenantA);
    expect(rows.length).toBe(before + 4 + 8 * 3);
    for (const [i, r] of rows.entries()) {
      expect(r.seq).toBe(i + 1);
      expect(r.previous_hash).toBe(i === 0 ? null : rows[i - 1]!.content_hash);
    }
  });
});
