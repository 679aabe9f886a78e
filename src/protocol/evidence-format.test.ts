// The offline verifier on bundles built in memory: what its fast path (working from the signed bytes)
// must still catch, and parseBundle's quick shape check agreeing with the schema.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_FORMAT,
  type Bundle,
  BundleFormatError,
  buildEnvelope,
  canonicalJson,
  contentHashOf,
  evidenceBundle,
  keyIdOf,
  PACKET_SCHEMA,
  PAYLOAD_TYPE,
  pae,
  parseBundle,
  verifyBundle,
} from './evidence-format.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keyId = keyIdOf(publicKey);
const signBytes = (d: Buffer) => sign(null, d, privateKey);
const tenantId = randomUUID();

/** A whole-chain bundle of n packets, content members in the database's (jsonb) order, not canonical order. */
function makeBundle(n: number): Bundle {
  const packets: Bundle['packets'] = [];
  let previousHash: string | null = null;
  for (let i = 1; i <= n; i++) {
    const createdAt = new Date(Date.UTC(2026, 11, 3, 12, 0, i)).toISOString();
    const header = { schema: PACKET_SCHEMA, type: 'deployment', tenantId, promotionId: null, sequence: i, previousHash, createdAt };
    const canonical = canonicalJson({
      note: `é "${i}"\n`,
      n: i,
      release: { name: `r-${i}`, digests: ['sha256:aa', 'sha256:bb'] },
      packet: header,
    });
    const contentHash = contentHashOf(canonical);
    const parsed = JSON.parse(canonical) as Record<string, unknown>;
    // jsonb order: shorter keys first.
    const content = Object.fromEntries(
      Object.keys(parsed)
        .sort((a, b) => a.length - b.length || (a < b ? -1 : 1))
        .map((k) => [k, parsed[k]]),
    );
    packets.push({
      id: randomUUID(),
      tenantId,
      promotionId: null,
      packetType: 'deployment',
      sequence: i,
      content,
      contentHash,
      signature: JSON.stringify(buildEnvelope(canonical, keyId, signBytes)),
      signerKeyRef: keyId,
      previousHash,
      reuseKey: null,
      createdAt,
    });
    previousHash = contentHash;
  }
  return {
    format: BUNDLE_FORMAT,
    exportedAt: new Date().toISOString(),
    tenant: { id: tenantId, name: 'default' },
    filter: {},
    packets,
    keys: [
      {
        keyid: keyId,
        publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        createdAt: '2026-01-01T00:00:00.000Z',
        retiredAt: null,
      },
    ],
    chain: { scope: 'chain', fromSequence: 1, toSequence: n, anchorHash: null, headSequence: n, headHash: previousHash, links: [] },
  };
}

const copy = (b: Bundle): Bundle => JSON.parse(JSON.stringify(b));
/** Re-signs packet i's envelope over these exact payload bytes with the bundle's own key. */
function resign(b: Bundle, i: number, payload: Buffer): void {
  const sig = signBytes(pae(PAYLOAD_TYPE, payload));
  b.packets[i]!.signature = JSON.stringify({
    payloadType: PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid: keyId, sig: sig.toString('base64') }],
  });
}

describe('verifyBundle working from the signed payload', () => {
  it('verifies a bundle whose contents are in database order', () => {
    const r = verifyBundle(parseBundle(copy(makeBundle(5))));
    expect(r.failures).toEqual([]);
    expect(r).toMatchObject({ ok: true, packets: 5, keysUsed: [keyId] });
  });

  it('catches a validly signed payload that is the same data but not canonical', () => {
    const b = copy(makeBundle(3));
    const canonical = Buffer.from(JSON.parse(b.packets[1]!.signature).payload, 'base64').toString('utf8');
    resign(b, 1, Buffer.from(JSON.stringify(JSON.parse(canonical), null, 1)));
    expect(verifyBundle(b).failures).toEqual([
      expect.objectContaining({ index: 1, check: 'envelope', message: expect.stringContaining('not the canonical content') }),
    ]);
  });

  it('catches a validly signed payload that is not UTF-8', () => {
    const b = copy(makeBundle(3));
    const bytes = Buffer.from(JSON.parse(b.packets[2]!.signature).payload, 'base64');
    const at = bytes.indexOf(Buffer.from('é'));
    resign(b, 2, Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff, 0xfe]), bytes.subarray(at + 2)]));
    expect(verifyBundle(b).failures).toEqual([expect.objectContaining({ index: 2, check: 'envelope' })]);
  });

  it('catches changed content, a changed payload, a changed hash and a broken envelope', () => {
    const content = copy(makeBundle(3));
    (content.packets[0]!.content as { n: number }).n = 9;
    expect(verifyBundle(content).failures.map((f) => [f.index, f.check])).toEqual([
      [0, 'content_hash'],
      [0, 'envelope'],
      [1, 'chain'],
    ]);
    const payload = copy(makeBundle(3));
    const env = JSON.parse(payload.packets[1]!.signature);
    env.payload = Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('"n":2', '"n":3')).toString('base64');
    payload.packets[1]!.signature = JSON.stringify(env);
    expect(verifyBundle(payload).failures.map((f) => [f.index, f.check])).toEqual([
      [1, 'envelope'],
      [1, 'signature'],
    ]);
    const hash = copy(makeBundle(3));
    hash.packets[2]!.contentHash = `sha256:${'0'.repeat(64)}`;
    expect(verifyBundle(hash).failures.map((f) => [f.index, f.check])).toEqual([[2, 'content_hash']]);
    const broken = copy(makeBundle(3));
    broken.packets[0]!.signature = 'not json';
    expect(verifyBundle(broken).failures.map((f) => [f.index, f.check])).toEqual([[0, 'envelope']]);
  });

  it('still throws, as before, on content that has no canonical form', () => {
    const b = copy(makeBundle(1));
    b.packets[0]!.content.bad = Number.NaN;
    expect(() => verifyBundle(b)).toThrow();
  });
});

describe('parseBundle', () => {
  it('returns a well-formed bundle as it is, without copying it', () => {
    const b = copy(makeBundle(3));
    expect(parseBundle(b)).toBe(b);
  });

  it('agrees with the schema on what is a bundle, and on what verification then sees', () => {
    const good = makeBundle(2);
    const variants: [string, (b: Record<string, any>) => void][] = [
      [
        'extra members',
        (b) => {
          b.extra = 1;
          b.packets[0].extra = 2;
        },
      ],
      [
        'a content with __proto__',
        (b) => {
          b.packets[0].content = JSON.parse('{"__proto__": {"x": 1}, "n": 1}');
        },
      ],
      [
        'a bad uuid',
        (b) => {
          b.packets[1].id = 'not-a-uuid';
        },
      ],
      [
        'a fractional sequence',
        (b) => {
          b.packets[0].sequence = 1.5;
        },
      ],
      [
        'an unknown packet type',
        (b) => {
          b.packets[0].packetType = 'other';
        },
      ],
      [
        'a missing nullable',
        (b) => {
          delete b.packets[0].promotionId;
        },
      ],
      [
        'an array content',
        (b) => {
          b.packets[0].content = [];
        },
      ],
      [
        'a hole in links',
        (b) => {
          b.chain.links = new Array(2);
          b.chain.links[1] = { sequence: 1, contentHash: 'x', previousHash: null };
        },
      ],
      [
        'a non-string filter',
        (b) => {
          b.filter = { since: 5 };
        },
      ],
      [
        'a wrong format',
        (b) => {
          b.format = 'other';
        },
      ],
      [
        'a bad scope',
        (b) => {
          b.chain.scope = 'some';
        },
      ],
    ];
    for (const [what, change] of variants) {
      const v = copy(good) as unknown as Record<string, any>;
      change(v);
      const schema = evidenceBundle.safeParse(v);
      // Accepted: what the checks see is the same (extra members may stay; nothing reads them).
      if (schema.success) expect(verifyBundle(parseBundle(v)), what).toEqual(verifyBundle(schema.data));
      else expect(() => parseBundle(v), what).toThrow(BundleFormatError);
    }
  });
});
