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
  canonicalOrder,
  contentHashOf,
  evidenceBundle,
  keyIdOf,
  PACKET_SCHEMA,
  PAYLOAD_TYPE,
  pae,
  parseBundle,
  scanCanonical,
  type VerifyReport,
  verifyBundle,
  verifyBundleText,
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

/** The reference verdict for a file: what verifyBundleText must give, or the error class it must throw. */
function reference(text: string, keys?: string[]): VerifyReport | string {
  try {
    return verifyBundle(parseBundle(JSON.parse(text)), keys);
  } catch (err) {
    return (err as Error).constructor.name;
  }
}
function fromText(text: string, keys?: string[]): VerifyReport | string {
  try {
    return verifyBundleText(text, keys);
  } catch (err) {
    return (err as Error).constructor.name;
  }
}

/** A bundle as exportBundle writes it: content members in canonical order, so each content is its payload's text. */
function exported(n: number): Bundle {
  const b = copy(makeBundle(n));
  for (const p of b.packets) p.content = canonicalOrder(p.content) as Record<string, unknown>;
  return b;
}

describe('verifyBundleText', () => {
  it('writes exported contents as the very text of their signed payloads', () => {
    for (const p of exported(3).packets) {
      const payload = Buffer.from(JSON.parse(p.signature).payload, 'base64').toString('utf8');
      expect(JSON.stringify(p.content)).toBe(payload);
      expect(scanCanonical(payload)).toBeDefined();
    }
  });

  it('gives the same report as verifying the parsed bundle, for exported, stored-order and indented files', () => {
    for (const text of [JSON.stringify(exported(4)), JSON.stringify(makeBundle(4)), JSON.stringify(exported(4), null, 2)]) {
      const r = fromText(text);
      expect(r).toMatchObject({ ok: true, packets: 4, keysUsed: [keyId] });
      expect(r).toEqual(reference(text));
    }
    const empty = exported(0);
    expect(fromText(JSON.stringify(empty))).toEqual(reference(JSON.stringify(empty)));
  });

  it('catches the same tampering, in the same words, as verifying the parsed bundle', () => {
    const payloadOf = (p: Bundle['packets'][number]) => Buffer.from(JSON.parse(p.signature).payload, 'base64');
    const cases: [string, (b: Bundle) => void][] = [
      ['a changed content', (b) => ((b.packets[1]!.content as { n: number }).n = 7)],
      ['a changed header', (b) => ((b.packets[1]!.content.packet as { sequence: number }).sequence = 9)],
      ['a changed content hash', (b) => (b.packets[2]!.contentHash = `sha256:${'0'.repeat(64)}`)],
      ['a removed packet', (b) => b.packets.splice(1, 1)],
      ['packets out of order', (b) => b.packets.reverse()],
      ['a foreign tenant', (b) => (b.packets[0]!.tenantId = randomUUID())],
      ['an unknown signer', (b) => (b.packets[0]!.signerKeyRef = 'ed25519:0000000000000000')],
      [
        'a signature that does not verify',
        (b) => {
          const env = JSON.parse(b.packets[1]!.signature);
          env.signatures[0].sig = Buffer.alloc(64, 1).toString('base64');
          b.packets[1]!.signature = JSON.stringify(env);
        },
      ],
      [
        'a signed payload with another header, content changed to match it',
        (b) => {
          const content = JSON.parse(payloadOf(b.packets[1]!).toString('utf8'));
          content.packet.createdAt = '2020-01-01T00:00:00.000Z';
          const canonical = canonicalJson(content);
          resign(b, 1, Buffer.from(canonical));
          b.packets[1]!.content = JSON.parse(canonical);
          b.packets[1]!.contentHash = contentHashOf(canonical);
        },
      ],
      [
        'a signed payload that is the content but not canonical',
        (b) => {
          const text = JSON.stringify(JSON.parse(payloadOf(b.packets[0]!).toString('utf8')), null, 1);
          resign(b, 0, Buffer.from(text));
          b.packets[0]!.content = JSON.parse(text);
        },
      ],
      [
        'an envelope with a raw control character in its payload (not JSON)',
        (b) => {
          const payload: string = JSON.parse(b.packets[1]!.signature).payload;
          b.packets[1]!.signature = b.packets[1]!.signature.replace(payload, `${payload.slice(0, 8)}\n\t\r\n${payload.slice(8)}`);
        },
      ],
      [
        'an envelope with a backslash in its payload',
        (b) => {
          const payload: string = JSON.parse(b.packets[1]!.signature).payload;
          b.packets[1]!.signature = b.packets[1]!.signature.replace(payload, `${payload.slice(0, 8)}\\u0041${payload.slice(8)}`);
        },
      ],
      ['an envelope that is not JSON', (b) => (b.packets[0]!.signature = 'not json')],
      ['a content that is not an object', (b) => ((b.packets[0] as { content: unknown }).content = [1])],
    ];
    for (const [what, change] of cases) {
      const b = exported(3);
      change(b);
      const text = JSON.stringify(b);
      const r = fromText(text);
      expect(r, what).toEqual(reference(text));
      if (typeof r !== 'string') expect(r.ok, what).toBe(false);
    }
  });

  it('reads texts the split cannot take apart as JSON.parse does', () => {
    const good = JSON.stringify(exported(2));
    const id = exported(2).packets[0]!.id;
    const texts = [
      good.replace('"packets":', '"p\\u0061ckets":'), // an escaped top-level key
      good.replace('"content":', '"c\\u006fntent":'), // an escaped packet key: content is only that
      good.replace(`{"id":"${id}"`, `{"content":{"a":1},"id":"${id}"`), // a repeated content: the last counts
      good.replace('"format":', '"packets":[],"format":'), // two packets members: the last counts
      `${good.slice(0, -1)},"packets":[]}`,
      good.replace('"content":{', '"content": {'), // whitespace: compared member by member
      good.slice(0, -1), // not JSON
      good.replace('"format":"gantry.evidence-bundle/v1"', '"format":"other"'), // not a bundle
      '[]',
      '',
    ];
    // An escaped newline in the base64: JSON allows it, and Buffer's decoder skips it, on both paths.
    const b = exported(2);
    const env = JSON.parse(b.packets[1]!.signature);
    env.payload = `${env.payload.slice(0, 8)}\n${env.payload.slice(8)}`;
    b.packets[1]!.signature = JSON.stringify(env);
    texts.push(JSON.stringify(b));
    // A second signature, by another key: not the quick envelope, still verified.
    const c = exported(2);
    const two = JSON.parse(c.packets[1]!.signature);
    two.signatures.unshift({ keyid: 'ed25519:1111111111111111', sig: 'AAAA' });
    c.packets[1]!.signature = JSON.stringify(two);
    texts.push(JSON.stringify(c));
    for (const text of texts) expect(fromText(text), text.slice(0, 80)).toEqual(reference(text));
  });
});

describe('scanCanonical', () => {
  it('accepts exactly what canonicalJson writes, and finds the "packet" member', () => {
    const values = [
      {},
      { packet: { a: 1 } },
      { a: [1, -2.5, 1e21, 1e-7, 0, true, false, null, '', 'é€😀', 'q"b\\s\n\t\r\b\f\u0001\u001f'], b: { c: [] }, B: [{}] },
      { '': 1, ' ': 2, a: { z: 1, y: [[]] }, packet: null },
    ];
    for (const v of values) {
      const text = canonicalJson(v);
      const span = scanCanonical(text);
      expect(span, text).toBeDefined();
      if ('packet' in v) expect(JSON.parse(text.slice(span![0], span![1]))).toEqual(v.packet);
      else expect(span).toEqual([-1, -1]);
    }
  });

  it('refuses what canonicalJson would not write', () => {
    for (const text of [
      '{"b":1,"a":2}', // unsorted
      '{"a":1,"a":2}', // repeated
      '{"a": 1}', // whitespace
      '{"a":1.0}',
      '{"a":1e3}',
      '{"a":-0}',
      '{"a":01}',
      '{"a":"\\/"}',
      '{"a":"\\u0041"}',
      '{"a":"\\u000a"}', // \n has a short escape
      '{"a":"\\u001F"}', // upper-case hex
      '{"a":"\\ud800"}', // a lone surrogate
      '{"a":"\ud800"}',
      '{"a":"x\ny"}', // a raw control character
      '{"a\\"":1}', // an escaped key: left to the full comparison
      '{"__proto__":1}',
      '{"a":tru}',
      '{"a":[1,]}',
      '{"a":1',
      '[1]',
      '{"a":1}x',
    ])
      expect(scanCanonical(text), text).toBeUndefined();
  });
});
