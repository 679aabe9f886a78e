// Reading the evidence chain: filtered, paginated lists in chain order, single packets, keys, and the
// pieces of an export bundle (packets, chain index, head). Tenant-scoped by query and by RLS.
import { NotFoundError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { afterOf, encodeCursor } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { EvidenceFilter, EvidencePacketOut, SigningKey } from './model.js';
import { PACKET_COLUMNS, type PacketRow, toPacket } from './service.js';

interface ResolvedFilter {
  promotionId: string | null;
  environmentId: string | null;
  type: string | null;
  since: string | null;
}

/** Resolves an environment name to its id; an id is taken as given, so evidence of a removed environment stays findable. */
export async function resolveFilter(tx: Tx, f: EvidenceFilter): Promise<ResolvedFilter> {
  let environmentId: string | null = null;
  if (f.environment !== undefined) {
    if (UUID_RE.test(f.environment)) environmentId = f.environment.toLowerCase();
    else {
      const r = await tx.query<{ id: string }>('SELECT id FROM environments WHERE name = $1', [f.environment]);
      if (!r.rows[0]) throw new NotFoundError('Environment', f.environment);
      environmentId = r.rows[0].id;
    }
  }
  return { promotionId: f.promotion ?? null, environmentId, type: f.type ?? null, since: f.since ?? null };
}

/** Packets matching the filter in chain order, after sequence `afterSeq`, at most `limit` (+1 to see if there are more). */
async function selectPackets(tx: Tx, tenantId: string, f: ResolvedFilter, afterSeq: number, limit: number): Promise<PacketRow[]> {
  const r = await tx.query<PacketRow>(
    `SELECT ${PACKET_COLUMNS} FROM evidence_packets
      WHERE tenant_id = $1 AND seq > $2
        AND ($3::uuid IS NULL OR promotion_id = $3)
        AND ($4::text IS NULL OR content -> 'environment' ->> 'id' = $4)
        AND ($5::text IS NULL OR packet_type = $5)
        AND ($6::timestamptz IS NULL OR created_at >= $6)
      ORDER BY seq LIMIT $7`,
    [tenantId, afterSeq, f.promotionId, f.environmentId, f.type, f.since, limit],
  );
  return r.rows;
}

export async function listPackets(tx: Tx, tenantId: string, filter: EvidenceFilter, limit: number, cursor: string | undefined) {
  const f = await resolveFilter(tx, filter);
  const rows = await selectPackets(tx, tenantId, f, Number(afterOf(cursor) ?? 0), limit + 1);
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { items: page.map(toPacket), nextCursor: more && last ? encodeCursor([String(last.seq)]) : null };
}

export async function getPacket(tx: Tx, tenantId: string, id: string): Promise<EvidencePacketOut> {
  const r = UUID_RE.test(id)
    ? await tx.query<PacketRow>(`SELECT ${PACKET_COLUMNS} FROM evidence_packets WHERE tenant_id = $1 AND id = $2`, [tenantId, id])
    : undefined;
  const row = r?.rows[0];
  if (!row) throw new NotFoundError('Evidence packet', id);
  return toPacket(row);
}

interface KeyRow {
  key_id: string;
  algorithm: 'ed25519';
  public_key_pem: string;
  created_at: Date;
  retired_at: Date | null;
}

export async function listKeys(tx: Tx): Promise<SigningKey[]> {
  const r = await tx.query<KeyRow>(
    'SELECT key_id, algorithm, public_key_pem, created_at, retired_at FROM signing_keys ORDER BY created_at, key_id',
  );
  return r.rows.map((k) => ({
    keyId: k.key_id,
    algorithm: k.algorithm,
    publicKeyPem: k.public_key_pem,
    createdAt: k.created_at.toISOString(),
    retiredAt: k.retired_at?.toISOString() ?? null,
  }));
}

/** Every packet matching the filter, up to `max` (exports are whole; more than that needs --since). */
export async function allPackets(tx: Tx, tenantId: string, f: ResolvedFilter, max: number): Promise<PacketRow[]> {
  return selectPackets(tx, tenantId, f, 0, max + 1);
}

export interface ChainLinkRow {
  sequence: number;
  contentHash: string;
  previousHash: string | null;
}

/** Hash links of every packet in [from, to]: lets an offline verifier bridge the gaps of a filtered subset. */
export async function chainLinks(tx: Tx, tenantId: string, from: number, to: number): Promise<ChainLinkRow[]> {
  const r = await tx.query<{ seq: number; content_hash: string; previous_hash: string | null }>(
    'SELECT seq, content_hash, previous_hash FROM evidence_packets WHERE tenant_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq',
    [tenantId, from, to],
  );
  return r.rows.map((x) => ({ sequence: x.seq, contentHash: x.content_hash, previousHash: x.previous_hash }));
}

export async function chainHead(tx: Tx, tenantId: string): Promise<{ sequence: number; contentHash: string } | undefined> {
  const r = await tx.query<{ seq: number; content_hash: string }>(
    'SELECT seq, content_hash FROM evidence_packets WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
    [tenantId],
  );
  const h = r.rows[0];
  return h ? { sequence: h.seq, contentHash: h.content_hash } : undefined;
}
