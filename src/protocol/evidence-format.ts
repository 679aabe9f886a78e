// The evidence wire format, pure: RFC 8785 canonical JSON, SHA-256 content hashes, DSSE envelopes and
// their Ed25519 signatures, key ids. Imports nothing of the server, so the server and the offline CLI
// verifier share it.

import { isUtf8 } from 'node:buffer';
import { createPublicKey, verify as edVerify, hash, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { isCanonicalTextOf } from './canonical-match.js';

/** DSSE payload type of every Gantry evidence packet. */
export const PAYLOAD_TYPE = 'application/vnd.gantry.evidence+json';
/** Schema tag of the `packet` header the service writes into every packet's content. */
export const PACKET_SCHEMA = 'gantry.evidence/v1';
export const PACKET_TYPES = ['release_decision', 'deployment', 'rollback', 'gate_override', 'ab_promotion'] as const;
export type PacketType = (typeof PACKET_TYPES)[number];
export const packetType = z.enum(PACKET_TYPES);

/**
 * The header inside every packet's content (reserved member `packet`). It is signed with the rest, so
 * moving a packet to another tenant, another place in the chain or another time breaks its signature.
 */
export interface PacketHeader {
  schema: typeof PACKET_SCHEMA;
  type: PacketType;
  tenantId: string;
  promotionId: string | null;
  /** 1 for a tenant's first packet, then +1 per packet: a gap in a bundle is visible without the database. */
  sequence: number;
  /** content_hash of the tenant's previous packet; null for the first. */
  previousHash: string | null;
  createdAt: string;
}

export interface DsseSignature {
  keyid: string;
  sig: string;
}

/** A DSSE envelope (https://github.com/secure-systems-lab/dsse), stored as JSON in `signature`. */
export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

/** RFC 8785 (JCS) serialisation. Throws on values JSON cannot carry (e.g. NaN), which would not round-trip. */
export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new TypeError('The value has no JSON representation.');
  return out;
}

export function sha256Hex(data: Uint8Array | string): string {
  // One-shot: no Hash object per call (a verifier hashes every packet). Strings are hashed as UTF-8.
  return hash('sha256', data, 'hex');
}

/** "sha256:<hex>" of the canonical bytes: the content_hash, and what the next packet's previous_hash holds. */
export function contentHashOf(canonical: string): string {
  return `sha256:${sha256Hex(Buffer.from(canonical, 'utf8'))}`;
}

/** DSSE pre-authentication encoding: "DSSEv1 <len(type)> <type> <len(payload)> <payload>", lengths in bytes. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** The raw 32-byte Ed25519 public key (the last 32 bytes of its SPKI DER encoding). */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

/** "ed25519:" + the first 16 hex digits of SHA-256 over the raw public key: short, stable, derivable offline. */
export function keyIdOf(key: KeyObject): string {
  return `ed25519:${sha256Hex(rawPublicKey(key)).slice(0, 16)}`;
}

/** Parses a PEM public key and checks it is Ed25519; the key id is recomputed, never trusted from input. */
export function publicKeyFromPem(pem: string): { key: KeyObject; keyId: string } {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 public key, got ${key.asymmetricKeyType}`);
  return { key, keyId: keyIdOf(key) };
}

/** Builds the envelope for canonical content, signing its PAE with `sign`. */
export function buildEnvelope(canonical: string, keyId: string, sign: (data: Buffer) => Buffer): DsseEnvelope {
  const payload = Buffer.from(canonical, 'utf8');
  const sig = sign(pae(PAYLOAD_TYPE, payload));
  return { payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keyId, sig: sig.toString('base64') }] };
}

/** Parses a stored `signature` value; undefined when it is not a DSSE envelope. */
export function parseEnvelope(text: string): DsseEnvelope | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures)) return undefined;
  const sigs = e.signatures.filter(
    (s): s is DsseSignature =>
      typeof s === 'object' && s !== null && typeof (s as DsseSignature).keyid === 'string' && typeof (s as DsseSignature).sig === 'string',
  );
  if (sigs.length !== e.signatures.length) return undefined;
  return { payloadType: e.payloadType, payload: e.payload, signatures: sigs };
}

/** Checks one Ed25519 signature over the envelope's PAE. */
export function verifyEnvelopeSignature(env: DsseEnvelope, sig: DsseSignature, key: KeyObject): boolean {
  const payload = Buffer.from(env.payload, 'base64');
  return edVerify(null, pae(env.payloadType, payload), key, Buffer.from(sig.sig, 'base64'));
}

// Packets and bundles: the API's response schemas and what the offline verifier parses, one source.

export const evidencePacket = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  promotionId: z.uuid().nullable(),
  packetType,
  sequence: z.number().int().describe("Position in the tenant's chain, from 1."),
  // any-shaped JSON: each packet type has its own content; `content.packet` is the signed header.
  content: z.record(z.string(), z.unknown()),
  contentHash: z.string().describe('"sha256:<hex>" of the RFC 8785 canonical content.'),
  signature: z.string().describe('DSSE envelope (JSON) with the Ed25519 signature over the canonical content.'),
  signerKeyRef: z.string().describe('Key id of the signing key, "ed25519:<16 hex>"; see /evidence/keys.'),
  previousHash: z.string().nullable().describe("content_hash of the tenant's previous packet; null for the first."),
  reuseKey: z.string().nullable(),
  createdAt: z.string(),
});

export const BUNDLE_FORMAT = 'gantry.evidence-bundle/v1';

export const chainLink = z.object({ sequence: z.number().int(), contentHash: z.string(), previousHash: z.string().nullable() });

export const evidenceBundle = z.object({
  format: z.literal(BUNDLE_FORMAT),
  exportedAt: z.string(),
  tenant: z.object({ id: z.uuid(), name: z.string() }),
  filter: z.record(z.string(), z.string()),
  packets: z.array(evidencePacket),
  keys: z.array(z.object({ keyid: z.string(), publicKeyPem: z.string(), createdAt: z.string(), retiredAt: z.string().nullable() })),
  chain: z.object({
    scope: z
      .enum(['chain', 'subset'])
      .describe('chain: every packet from fromSequence to toSequence is included; subset: a filtered selection.'),
    fromSequence: z.number().int().nullable(),
    toSequence: z.number().int().nullable(),
    anchorHash: z.string().nullable().describe('previous_hash of the first packet: what the bundle links back to (null: the chain start).'),
    headSequence: z.number().int().nullable().describe("The tenant's latest packet at export time."),
    headHash: z.string().nullable(),
    links: z
      .array(chainLink)
      .describe('For a subset: every link from fromSequence to toSequence, so gaps between included packets can be bridged.'),
  }),
});
export type EvidenceBundle = z.infer<typeof evidenceBundle>;
export type BundlePacket = z.infer<typeof evidencePacket>;
export type Bundle = z.infer<typeof evidenceBundle>;

// Verification --------------------------------------------------------------------------------

export type CheckName = 'content_hash' | 'header' | 'envelope' | 'signature' | 'order' | 'chain' | 'key';

/** One failed check, naming the packet (index in the bundle, id, type, sequence) and what is wrong. */
export interface VerifyFailure {
  index: number;
  id: string;
  packetType: string;
  sequence: number;
  check: CheckName;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  packets: number;
  /** Key ids that verified at least one packet. */
  keysUsed: string[];
  failures: VerifyFailure[];
}

/** The input is not a bundle at all (exit 2 in the CLI), as opposed to a bundle that fails checks (exit 1). */
export class BundleFormatError extends Error {}

/**
 * Checks and types a parsed bundle. A bundle that plainly has the schema's shape is returned as it is,
 * not copied (a large bundle's tree is then held once); anything else goes through the schema, which
 * names the first problem or, for what the quick check leaves to it, returns the schema's copy.
 */
export function parseBundle(value: unknown): Bundle {
  if (hasBundleShape(value)) return value;
  const r = evidenceBundle.safeParse(value);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new BundleFormatError(
      `not a ${BUNDLE_FORMAT} bundle: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}`,
    );
  }
  return r.data;
}

// The quick check accepts only what the schema accepts and then returns unchanged (declared members of the
// expected types, JSON-parsed records); it is stricter where that is simpler, leaving the rest to the schema.
const UUID = z.regexes.uuid();
type Loose = Record<string, unknown>;
const isObj = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isUuid = (v: unknown) => typeof v === 'string' && UUID.test(v);
const isInt = (v: unknown) => Number.isSafeInteger(v);
const orNull = (v: unknown, is: (v: unknown) => boolean) => v === null || is(v);
// The schema's copy of a record drops a "__proto__" member and refuses symbol keys; such records go to it.
function isJsonRecord(v: unknown): v is Loose {
  if (!isObj(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && !Object.hasOwn(v, '__proto__') && Object.getOwnPropertySymbols(v).length === 0;
}

function hasPacketShape(p: unknown): boolean {
  return (
    isObj(p) &&
    isUuid(p.id) &&
    isUuid(p.tenantId) &&
    orNull(p.promotionId, isUuid) &&
    (PACKET_TYPES as readonly unknown[]).includes(p.packetType) &&
    isInt(p.sequence) &&
    isJsonRecord(p.content) &&
    isStr(p.contentHash) &&
    isStr(p.signature) &&
    isStr(p.signerKeyRef) &&
    orNull(p.previousHash, isStr) &&
    orNull(p.reuseKey, isStr) &&
    isStr(p.createdAt)
  );
}

function hasBundleShape(b: unknown): b is Bundle {
  if (!isObj(b) || b.format !== BUNDLE_FORMAT || !isStr(b.exportedAt)) return false;
  const { tenant, filter, packets, keys, chain } = b;
  if (!isObj(tenant) || !isUuid(tenant.id) || !isStr(tenant.name)) return false;
  if (!isJsonRecord(filter) || !Object.values(filter).every(isStr)) return false;
  if (!Array.isArray(packets) || !Array.isArray(keys) || !isObj(chain)) return false;
  for (let i = 0; i < packets.length; i++) if (!hasPacketShape(packets[i])) return false;
  for (let i = 0; i < keys.length; i++) {
    const k: unknown = keys[i];
    if (!isObj(k) || !isStr(k.keyid) || !isStr(k.publicKeyPem) || !isStr(k.createdAt) || !orNull(k.retiredAt, isStr)) return false;
  }
  if (chain.scope !== 'chain' && chain.scope !== 'subset') return false;
  if (!orNull(chain.fromSequence, isInt) || !orNull(chain.toSequence, isInt) || !orNull(chain.headSequence, isInt)) return false;
  if (!orNull(chain.anchorHash, isStr) || !orNull(chain.headHash, isStr) || !Array.isArray(chain.links)) return false;
  // Index loops, not every(): every() skips holes, which the schema refuses.
  for (let i = 0; i < chain.links.length; i++) {
    const l: unknown = chain.links[i];
    if (!isObj(l) || !isInt(l.sequence) || !isStr(l.contentHash) || !orNull(l.previousHash, isStr)) return false;
  }
  return true;
}

/**
 * Verifies a bundle offline: each packet's content hash, signed header, DSSE envelope and Ed25519
 * signature (against the bundle's keys, or only `trustedKeys` when given), the bundle order, and chain
 * continuity: consecutive sequences must link by hash; for a subset, gaps must be bridged by the chain
 * index; for a whole-chain bundle, gaps are removed packets. Every failure is reported, not just the first.
 */
export function verifyBundle(bundle: Bundle, trustedKeys?: string[]): VerifyReport {
  const failures: VerifyFailure[] = [];
  const keys = new Map<string, KeyObject>();
  for (const pem of trustedKeys ?? bundle.keys.map((k) => k.publicKeyPem)) {
    try {
      const k = publicKeyFromPem(pem);
      keys.set(k.keyId, k.key);
    } catch (err) {
      failures.push({
        index: -1,
        id: '',
        packetType: '',
        sequence: 0,
        check: 'key',
        message: `a public key is unusable: ${(err as Error).message}`,
      });
    }
  }
  const used = new Set<string>();
  const hashes: string[] = [];
  const bySequence = new Map(bundle.packets.map((p, i) => [p.sequence, i]));
  const links = new Map(bundle.chain.links.map((l) => [l.sequence, l]));
  // The packet with the highest sequence so far: an out-of-order packet is reported once, and the ones
  // after it are still checked against the right predecessor.
  let latest: number | undefined;
  // One failure reporter for the loop's current packet, not a closure per packet.
  let index = 0;
  let p = bundle.packets[0]!;
  const fail = (check: CheckName, message: string) =>
    failures.push({ index, id: p.id, packetType: p.packetType, sequence: p.sequence, check, message });
  for (; index < bundle.packets.length; index++) {
    p = bundle.packets[index]!;
    const env = parseEnvelope(p.signature);
    const payload = env && Buffer.from(env.payload, 'base64');
    // Work from the signed bytes: when they are provably the canonical content (a structural comparison,
    // see canonical-match.ts), hashing them gives the content hash and the content is not serialised again.
    // Otherwise serialise the content and compare bytes, which finds the same failures, only slower.
    const text = payload && isUtf8(payload) ? payload.toString('utf8') : undefined;
    const signedIsCanonical = text !== undefined && isCanonicalTextOf(text, p.content);
    const canonical = signedIsCanonical ? text : canonicalJson(p.content);
    const hash = signedIsCanonical ? `sha256:${sha256Hex(payload!)}` : contentHashOf(canonical);
    hashes.push(hash);
    if (hash !== p.contentHash) fail('content_hash', `content hashes to ${hash}, but the packet says ${p.contentHash}`);
    const headerProblem = checkHeader(p, bundle.tenant.id);
    if (headerProblem) fail('header', headerProblem);
    if (!env || !payload) {
      fail('envelope', 'the signature is not a DSSE envelope');
      checkLink(bundle, index, latest, hashes, bySequence, links, fail);
      if (latest === undefined || p.sequence > bundle.packets[latest]!.sequence) latest = index;
      continue;
    }
    if (env.payloadType !== PAYLOAD_TYPE) fail('envelope', `payload type is ${env.payloadType}, expected ${PAYLOAD_TYPE}`);
    if (!signedIsCanonical && !payload.equals(Buffer.from(canonical, 'utf8'))) {
      fail('envelope', 'the signed payload is not the canonical content of this packet');
    }
    let sig: DsseSignature | undefined;
    for (const s of env.signatures) if (s.keyid === p.signerKeyRef && !sig) sig = s;
    const key = sig && keys.get(sig.keyid);
    if (!sig) fail('signature', `no signature by ${p.signerKeyRef}, the packet's signer`);
    else if (!key) fail('signature', `signed by ${sig.keyid}, which is not among the ${trustedKeys ? 'given' : "bundle's"} keys`);
    else if (!edVerify(null, pae(env.payloadType, payload), key, Buffer.from(sig.sig, 'base64')))
      fail('signature', `the Ed25519 signature by ${sig.keyid} does not verify`);
    else used.add(sig.keyid);
    checkLink(bundle, index, latest, hashes, bySequence, links, fail);
    if (latest === undefined || p.sequence > bundle.packets[latest]!.sequence) latest = index;
  }
  const last = bundle.packets[bundle.packets.length - 1];
  // A whole-chain bundle promises every packet in its range: a missing tail is a removed packet too.
  if (last && bundle.chain.scope === 'chain' && bundle.chain.toSequence !== null && last.sequence < bundle.chain.toSequence) {
    failures.push({
      index: bundle.packets.length - 1,
      id: last.id,
      packetType: last.packetType,
      sequence: last.sequence,
      check: 'chain',
      message: `the bundle covers sequences up to ${bundle.chain.toSequence}, but ends at ${last.sequence}: later packets are missing`,
    });
  }
  return { ok: failures.length === 0, packets: bundle.packets.length, keysUsed: [...used].sort(), failures };
}

function checkHeader(p: BundlePacket, tenantId: string): string | undefined {
  const h = p.content.packet as Partial<PacketHeader> | undefined;
  if (typeof h !== 'object' || h === null) return 'content has no signed "packet" header';
  // The common case without building the comparison list.
  if (
    h.schema === PACKET_SCHEMA &&
    h.type === p.packetType &&
    h.tenantId === tenantId &&
    h.promotionId === p.promotionId &&
    h.sequence === p.sequence &&
    h.previousHash === p.previousHash &&
    h.createdAt === p.createdAt &&
    p.tenantId === tenantId
  )
    return undefined;
  const want: [keyof PacketHeader, unknown][] = [
    ['schema', PACKET_SCHEMA],
    ['type', p.packetType],
    ['tenantId', tenantId],
    ['promotionId', p.promotionId],
    ['sequence', p.sequence],
    ['previousHash', p.previousHash],
    ['createdAt', p.createdAt],
  ];
  const bad = want.filter(([k, v]) => h[k] !== v).map(([k, v]) => `${k} is ${JSON.stringify(h[k])}, the row says ${JSON.stringify(v)}`);
  if (p.tenantId !== tenantId) bad.push(`the packet belongs to tenant ${p.tenantId}, not the bundle's ${tenantId}`);
  return bad.length ? `signed header disagrees: ${bad.join('; ')}` : undefined;
}

function checkLink(
  bundle: Bundle,
  index: number,
  beforeIndex: number | undefined,
  hashes: string[],
  bySequence: Map<number, number>,
  links: Map<number, z.infer<typeof chainLink>>,
  fail: (check: CheckName, message: string) => void,
): void {
  const p = bundle.packets[index]!;
  const link = links.get(p.sequence);
  if (link && link.contentHash !== hashes[index]) fail('chain', `the chain index lists ${link.contentHash} at sequence ${p.sequence}`);
  if (beforeIndex === undefined) {
    if (p.previousHash !== bundle.chain.anchorHash)
      fail('chain', `links to ${p.previousHash}, but the bundle's anchor is ${bundle.chain.anchorHash}`);
    if ((p.sequence === 1) !== (p.previousHash === null)) fail('chain', 'only the first packet of a chain may have no previous hash');
    return;
  }
  const before = bundle.packets[beforeIndex]!;
  if (p.sequence <= before.sequence) {
    fail('order', `sequence ${p.sequence} comes after sequence ${before.sequence} (index ${beforeIndex}): packets are out of chain order`);
    return;
  }
  let expected = hashes[beforeIndex]!;
  for (let s = before.sequence + 1; s < p.sequence; s++) {
    const elsewhere = bySequence.get(s);
    if (elsewhere !== undefined) {
      fail('order', `sequence ${s} belongs before this packet but is at index ${elsewhere}: out of chain order`);
      return;
    }
    const bridge = links.get(s);
    if (bundle.chain.scope === 'chain' || !bridge) {
      fail('chain', `the packet with sequence ${s} is missing between index ${beforeIndex} (sequence ${before.sequence}) and this one`);
      return;
    }
    if (bridge.previousHash !== expected) {
      fail('chain', `the chain index does not link sequence ${s} to sequence ${s - 1}`);
      return;
    }
    expected = bridge.contentHash;
  }
  if (p.previousHash !== expected) {
    fail('chain', `previous_hash ${p.previousHash} is not ${expected}, the hash of the packet before it (sequence ${p.sequence - 1})`);
  }
}
