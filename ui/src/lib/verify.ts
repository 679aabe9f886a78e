// Evidence verification in the browser with WebCrypto: RFC 8785 canonical JSON, SHA-256 content hash,
// the DSSE envelope's payload, its Ed25519 signature over the PAE, and the hash chain. Mirrors
// src/protocol/evidence-format.ts (which uses node:crypto) so a packet verifies the same way here and offline.
import type { EvidenceBundle, EvidencePacket } from '../api/types';

export const PAYLOAD_TYPE = 'application/vnd.gantry.evidence+json';

/** RFC 8785 (JCS): sorted keys (UTF-16 code units), ECMAScript number and string serialisation. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('non-finite number');
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new TypeError(`cannot canonicalise ${typeof value}`);
}

const enc = new TextEncoder();

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function b64decode(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** DSSE pre-authentication encoding. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = enc.encode(payloadType);
  return concat(enc.encode(`DSSEv1 ${type.length} `), type, enc.encode(` ${payload.length} `), payload);
}

function pemToDer(pem: string): Uint8Array {
  return b64decode(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
}

export async function importEd25519(pem: string): Promise<{ key: CryptoKey; keyId: string }> {
  const der = pemToDer(pem);
  const key = await crypto.subtle.importKey('spki', der as BufferSource, { name: 'Ed25519' }, false, ['verify']);
  const keyId = `ed25519:${(await sha256Hex(der.subarray(der.length - 32))).slice(0, 16)}`;
  return { key, keyId };
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface PacketVerdict {
  ok: boolean;
  checks: Check[];
}

/**
 * Verifies one packet: content hash, envelope payload = canonical content, signature by a known key
 * (ids recomputed from the keys, never trusted), and the chain link to `previous` when given.
 */
export async function verifyPacket(
  packet: EvidencePacket,
  keys: { publicKeyPem: string }[],
  previous?: { contentHash: string } | null,
): Promise<PacketVerdict> {
  const checks: Check[] = [];
  const canonical = canonicalJson(packet.content);
  const hash = `sha256:${await sha256Hex(enc.encode(canonical))}`;
  checks.push({
    name: 'content hash',
    ok: hash === packet.contentHash,
    detail: hash === packet.contentHash ? hash : `computed ${hash}, recorded ${packet.contentHash}`,
  });

  let envelope: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] } | undefined;
  try {
    envelope = JSON.parse(packet.signature);
  } catch {
    envelope = undefined;
  }
  if (!envelope || typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures)) {
    checks.push({ name: 'signature', ok: false, detail: 'the signature is not a DSSE envelope' });
    return { ok: false, checks };
  }
  const payload = b64decode(envelope.payload);
  const sameContent = new TextDecoder().decode(payload) === canonical && envelope.payloadType === PAYLOAD_TYPE;
  checks.push({
    name: 'envelope payload',
    ok: sameContent,
    detail: sameContent ? `${PAYLOAD_TYPE}, equals the content` : 'the signed payload differs from the content',
  });

  let imported: { key: CryptoKey; keyId: string }[] = [];
  try {
    imported = await Promise.all(keys.map((k) => importEd25519(k.publicKeyPem)));
  } catch (err) {
    checks.push({ name: 'signature', ok: false, detail: `this browser cannot import Ed25519 keys (${(err as Error).message})` });
    return { ok: false, checks };
  }
  let sigOk = false;
  let sigDetail = `no known key signed it (key ${envelope.signatures.map((s) => s.keyid).join(', ')})`;
  const data = pae(envelope.payloadType, payload);
  for (const s of envelope.signatures) {
    const k = imported.find((x) => x.keyId === s.keyid);
    if (!k) continue;
    const valid = await crypto.subtle.verify({ name: 'Ed25519' }, k.key, b64decode(s.sig) as BufferSource, data as BufferSource);
    if (valid) {
      sigOk = true;
      sigDetail = `Ed25519 by ${k.keyId}`;
      break;
    }
    sigDetail = `the signature by ${k.keyId} does not verify`;
  }
  checks.push({ name: 'signature', ok: sigOk, detail: sigDetail });

  const header = (packet.content as { packet?: { previousHash?: string | null; sequence?: number } }).packet;
  const headerOk = !header || (header.previousHash ?? null) === packet.previousHash;
  if (previous !== undefined) {
    const expected = previous?.contentHash ?? null;
    const linkOk = packet.previousHash === expected && headerOk;
    checks.push({
      name: 'chain link',
      ok: linkOk,
      detail: linkOk
        ? expected
          ? `links to ${expected.slice(0, 23)}…`
          : 'first packet of the chain'
        : `previous hash ${packet.previousHash} ≠ ${expected}`,
    });
  } else {
    checks.push({
      name: 'chain header',
      ok: headerOk,
      detail: headerOk ? 'the signed header names the same previous hash' : 'header and row disagree',
    });
  }
  return { ok: checks.every((c) => c.ok), checks };
}

export interface BundleVerdict {
  ok: boolean;
  packets: { id: string; sequence: number; verdict: PacketVerdict }[];
  chain: Check;
}

/** Verifies a whole export bundle offline: every packet, and the chain through the bundle's links. */
export async function verifyBundle(bundle: EvidenceBundle): Promise<BundleVerdict> {
  const sorted = [...bundle.packets].sort((a, b) => a.sequence - b.sequence);
  const links = new Map(bundle.chain.links.map((l) => [l.sequence, l]));
  for (const p of sorted) links.set(p.sequence, { sequence: p.sequence, contentHash: p.contentHash, previousHash: p.previousHash });
  const results: BundleVerdict['packets'] = [];
  for (const p of sorted) {
    const prev = links.get(p.sequence - 1);
    const previous = p.sequence === 1 ? null : prev ? { contentHash: prev.contentHash } : undefined;
    results.push({ id: p.id, sequence: p.sequence, verdict: await verifyPacket(p, bundle.keys, previous) });
  }
  // Every link must point at the one before it, from the first to the last sequence.
  const seqs = [...links.keys()].sort((a, b) => a - b);
  let chainOk = true;
  let detail = seqs.length ? `sequences ${seqs[0]}–${seqs.at(-1)} link up` : 'empty bundle';
  for (const s of seqs) {
    const l = links.get(s)!;
    const before = links.get(s - 1);
    if (before && l.previousHash !== before.contentHash) {
      chainOk = false;
      detail = `sequence ${s} does not link to ${s - 1}`;
      break;
    }
    if (!before && s !== seqs[0]) {
      chainOk = false;
      detail = `gap before sequence ${s}`;
      break;
    }
  }
  return { ok: chainOk && results.every((r) => r.verdict.ok), packets: results, chain: { name: 'hash chain', ok: chainOk, detail } };
}
