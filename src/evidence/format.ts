// The evidence wire format, pure: RFC 8785 canonical JSON, SHA-256 content hashes, DSSE envelopes and
// their Ed25519 signatures, key ids. No store or HTTP imports, so the offline CLI verifier can use it
// (the one documented exception to "the CLI imports no domain code").
import { createHash, createPublicKey, verify as edVerify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';

/** DSSE payload type of every Gantry evidence packet. */
export const PAYLOAD_TYPE = 'application/vnd.gantry.evidence+json';
/** Schema tag of the `packet` header the service writes into every packet's content. */
export const PACKET_SCHEMA = 'gantry.evidence/v1';
export const PACKET_TYPES = ['release_decision', 'deployment', 'rollback', 'gate_override'] as const;
export type PacketType = (typeof PACKET_TYPES)[number];

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
  return createHash('sha256').update(data).digest('hex');
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
