import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/helpers.js';
import { canonicalJson, contentHashOf } from '../protocol/evidence-format.js';
import { withSystem, withTenant } from '../store/db.js';
import { bootstrap } from '../tenancy/service.js';
import { appendPacket, findReusable } from './service.js';
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
