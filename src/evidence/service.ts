// Appending signed packets to a tenant's evidence chain, and finding reusable ones. Runs inside the
// caller's transaction, so a state change and the evidence for it commit together or not at all.
import { ValidationError } from '../core/errors.js';
import {
  buildEnvelope,
  canonicalJson,
  contentHashOf,
  PACKET_SCHEMA,
  type PacketHeader,
  type PacketType,
} from '../protocol/evidence-format.js';
import type { Tx } from '../store/db.js';
import type { EvidencePacketOut } from './model.js';
import type { Signer } from './signer.js';

export type { EvidencePacketOut } from './model.js';
export type { Signer } from './signer.js';

export interface AppendInput {
  tenantId: string;
  promotionId: string | null;
  packetType: PacketType;
  /** What the packet says (release, environment: {id, name}, promotion: {id}, actors, decision…). */
  content: Record<string, unknown>;
  /** Callers' key for "same digests, same gate inputs": findReusable looks packets up by it. */
  reuseKey?: string;
}

export interface PacketRow {
  id: string;
  tenant_id: string;
  promotion_id: string | null;
  packet_type: PacketType;
  seq: number;
  content: Record<string, unknown>;
  content_hash: string;
  signature: string;
  signer_key_ref: string;
  previous_hash: string | null;
  reuse_key: string | null;
  created_at: Date;
}

export const PACKET_COLUMNS =
  'id, tenant_id, promotion_id, packet_type, seq, content, content_hash, signature, signer_key_ref, previous_hash, reuse_key, created_at';

export function toPacket(r: PacketRow): EvidencePacketOut {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    promotionId: r.promotion_id,
    packetType: r.packet_type,
    sequence: r.seq,
    content: r.content,
    contentHash: r.content_hash,
    signature: r.signature,
    signerKeyRef: r.signer_key_ref,
    previousHash: r.previous_hash,
    reuseKey: r.reuse_key,
    createdAt: r.created_at.toISOString(),
  };
}

/**
 * Registers the signer's public key (idempotent), so every packet's key is in signing_keys before the
 * packet references it. Cheap enough per append, and it means no start-up ordering to get wrong.
 */
export async function registerKey(tx: Tx, signer: Signer): Promise<void> {
  await tx.query(`INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING`, [
    signer.keyId,
    signer.publicKeyPem,
  ]);
}

/**
 * Appends one packet to the tenant's chain: appendPackets with one input. A transaction-scoped advisory
 * lock per tenant serialises appends across all server replicas, so each packet links to the one committed
 * before it and the chain never forks (the unique (tenant_id, seq) and (tenant_id, previous_hash) indexes
 * back this up). The lock is held until the caller commits: append late in a transaction, after the slow work.
 */
export async function appendPacket(tx: Tx, signer: Signer, input: AppendInput): Promise<EvidencePacketOut> {
  return (await appendPackets(tx, signer, [input]))[0]!;
}

/** Inserts a batch in one statement: all rows or none, in the given order, whatever the batch size. */
const INSERT_PACKETS_ONLY = `INSERT INTO evidence_packets
       (tenant_id, promotion_id, packet_type, seq, content, content_hash, signature, signer_key_ref, previous_hash, reuse_key, created_at)
     SELECT $1::uuid, u.promotion_id, u.packet_type, u.seq, u.content, u.content_hash, u.signature, $2, u.previous_hash, u.reuse_key, $3::timestamptz
       FROM unnest($4::uuid[], $5::text[], $6::bigint[], $7::jsonb[], $8::text[], $9::text[], $10::text[], $11::text[])
            AS u(promotion_id, packet_type, seq, content, content_hash, signature, previous_hash, reuse_key)`;
const INSERT_PACKETS = `${INSERT_PACKETS_ONLY}
     RETURNING ${PACKET_COLUMNS}`;

/**
 * appendPacket for a caller that does not use the stored packet: nothing is read back, so a large packet
 * (a deployment's, an entry per target) is not parsed again from what was just written.
 */
export async function recordPacket(tx: Tx, signer: Signer, input: AppendInput): Promise<void> {
  await writePackets(tx, signer, [input], false);
}

/**
 * Appends packets to one tenant's chain, in the order given, under one hold of the tenant's chain lock:
 * the key registration and the lock are one statement, the head is read once after the lock, each packet
 * is hashed and signed linking to the one before it, and all are inserted by one statement — so the chain
 * gets all of them, consecutive, or (the caller's transaction failing) none. Use it where one state change
 * records several packets; the lock is held until the caller commits, as for appendPacket.
 */
export async function appendPackets(tx: Tx, signer: Signer, inputs: readonly AppendInput[]): Promise<EvidencePacketOut[]> {
  return writePackets(tx, signer, inputs, true);
}

async function writePackets(tx: Tx, signer: Signer, inputs: readonly AppendInput[], answer: boolean): Promise<EvidencePacketOut[]> {
  const first = inputs[0];
  if (!first) return [];
  const { tenantId } = first;
  for (const input of inputs) {
    // One lock, one chain: packets of several tenants are separate appends.
    if (input.tenantId !== tenantId) throw new TypeError('appendPackets: every packet of a batch must belong to the same tenant.');
    if (Object.hasOwn(input.content, 'packet')) {
      throw new ValidationError('Evidence content must not set "packet": the evidence service writes that signed header.');
    }
  }
  // Registers the signer's key (idempotent, see registerKey) and takes the tenant's chain lock. The
  // two-key lock form has its own lock space, apart from the single-bigint locks (migrations) used elsewhere.
  await tx.query(
    `WITH registered AS (INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING)
     SELECT pg_advisory_xact_lock(hashtext('gantry.evidence'), hashtext($3))`,
    [signer.keyId, signer.publicKeyPem, tenantId],
  );
  // Read after the lock, in a statement of its own: in READ COMMITTED each statement sees what committed
  // before it started. greatest() skips NULL, so an empty chain still gets a time; later packets never go
  // back in time.
  const last = await tx.query<{ seq: number | null; content_hash: string | null; now: Date }>(
    `SELECT p.seq, p.content_hash, greatest(date_trunc('milliseconds', clock_timestamp()), p.created_at) AS now
       FROM (SELECT 1) one
       LEFT JOIN LATERAL (SELECT seq, content_hash, created_at FROM evidence_packets
                           WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1) p ON true`,
    [tenantId],
  );
  // One row always: the LEFT JOIN yields NULLs for a tenant's first packet.
  const head = last.rows[0]!;
  const createdAt = head.now;
  const at = createdAt.toISOString();
  let sequence = head.seq ?? 0;
  let previousHash = head.content_hash;
  // Column arrays for the unnest() of INSERT_PACKETS.
  const col: Record<'promotion' | 'type' | 'seq' | 'content' | 'hash' | 'envelope' | 'previous' | 'reuse', unknown[]> = {
    promotion: [],
    type: [],
    seq: [],
    content: [],
    hash: [],
    envelope: [],
    previous: [],
    reuse: [],
  };
  for (const input of inputs) {
    sequence += 1;
    const header: PacketHeader = {
      schema: PACKET_SCHEMA,
      type: input.packetType,
      tenantId,
      promotionId: input.promotionId,
      sequence,
      previousHash,
      createdAt: at,
    };
    let canonical: string;
    try {
      canonical = canonicalJson({ ...input.content, packet: header });
    } catch (err) {
      throw new ValidationError(`Evidence content cannot be written as canonical JSON: ${(err as Error).message}`);
    }
    const hash = contentHashOf(canonical);
    col.promotion.push(input.promotionId);
    col.type.push(input.packetType);
    col.seq.push(sequence);
    col.content.push(canonical);
    col.hash.push(hash);
    col.envelope.push(JSON.stringify(buildEnvelope(canonical, signer.keyId, (data) => signer.sign(data))));
    col.previous.push(previousHash);
    col.reuse.push(input.reuseKey ?? null);
    previousHash = hash;
  }
  const inserted = await tx.query<PacketRow>(answer ? INSERT_PACKETS : INSERT_PACKETS_ONLY, [
    tenantId,
    signer.keyId,
    createdAt,
    col.promotion,
    col.type,
    col.seq,
    col.content,
    col.hash,
    col.envelope,
    col.previous,
    col.reuse,
  ]);
  // RETURNING order is not promised by SQL: hand back chain order, which is the input order.
  return inserted.rows.sort((a, b) => a.seq - b.seq).map(toPacket);
}

/** The latest packet of this type recorded under reuseKey, if any: the caller references it instead of appending. */
export async function findReusable(
  tx: Tx,
  tenantId: string,
  packetType: PacketType,
  reuseKey: string,
): Promise<EvidencePacketOut | undefined> {
  const r = await tx.query<PacketRow>(
    `SELECT ${PACKET_COLUMNS} FROM evidence_packets
      WHERE tenant_id = $1 AND packet_type = $2 AND reuse_key = $3
      ORDER BY seq DESC LIMIT 1`,
    [tenantId, packetType, reuseKey],
  );
  const row = r.rows[0];
  return row ? toPacket(row) : undefined;
}
