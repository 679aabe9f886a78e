import { describe, expect, it } from 'vitest';
import { isCanonicalTextOf } from './canonical-match.js';
import { canonicalJson } from './evidence-format.js';

// Values whose canonical form the fast check must recognise, exactly as canonicalJson writes it.
const values: [string, unknown][] = [
  ['jsonb-ordered members', { short: 1, a: { zz: true, b: null }, longer: [1, 'x', { y: 2, x: 1 }] }],
  ['numbers', { n: [0, -0, 1.5, -2, 1e21, 1e-7, 123456789012345680000, 0.1 + 0.2, Number.MAX_SAFE_INTEGER] }],
  ['escapes', { s: 'quote " backslash \\ newline \n tab \t nul \u0000 unit-sep \u001f', '\n': 'key with newline' }],
  ['non-ASCII', { é: 'ü', Ω: '日本', emoji: '🚀 launched', zwj: '👩‍💻', bmpEnd: '\uffff' }],
  ['UTF-16 order, not code point order', { '\uff61': 1, '\ud83d\ude80': 2, a: 3, B: 4, '': 5 }],
  ['empty containers', { o: {}, a: [], nested: [[], [{}]] }],
  ['top-level array and primitives', [true, false, null, 'x', 7]],
];

describe('isCanonicalTextOf', () => {
  it.each(values)('accepts the canonical text of %s', (_, v) => {
    expect(isCanonicalTextOf(canonicalJson(v), v)).toBe(true);
  });

  it.each(values)('refuses other text for %s', (_, v) => {
    const c = canonicalJson(v);
    expect(isCanonicalTextOf(JSON.stringify(v, null, 1), v)).toBe(c === JSON.stringify(v, null, 1));
    expect(isCanonicalTextOf(`${c} `, v)).toBe(false);
    expect(isCanonicalTextOf(c.slice(0, -1), v)).toBe(false);
    expect(isCanonicalTextOf(`${c.slice(0, -1)},"z":1${c.slice(-1)}`, v)).toBe(false);
  });

  it('refuses text that parses to the same data but is not canonical', () => {
    const v = { a: 1, b: 'x', c: [1.5] };
    for (const text of [
      '{"b":"x","a":1,"c":[1.5]}',
      '{"a":1.0,"b":"x","c":[1.5]}',
      '{"a":1,"b":"\\u0078","c":[1.5]}',
      '{"a":1,"b":"x","c":[15e-1]}',
      '{"a":1,"a":1,"b":"x","c":[1.5]}',
    ])
      expect(isCanonicalTextOf(text, v)).toBe(false);
  });

  it('refuses raw characters that the canonical form escapes', () => {
    expect(isCanonicalTextOf('{"s":"a"b"}', { s: 'a"b' })).toBe(false);
    expect(isCanonicalTextOf('{"s":"a\nb"}', { s: 'a\nb' })).toBe(false);
    expect(isCanonicalTextOf('{"s":"a\\"b"}', { s: 'a"b' })).toBe(true);
  });

  it('refuses what the canonicaliser refuses or treats specially, without throwing', () => {
    const cases: unknown[] = [
      { n: Number.NaN },
      { n: Number.POSITIVE_INFINITY },
      { s: 'lone \ud800 surrogate' },
      { d: new Date(0) },
      { u: undefined },
      [undefined],
      { f: () => 1 },
      { b: 10n },
    ];
    for (const v of cases) {
      let text: string;
      try {
        text = canonicalJson(v);
      } catch {
        text = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x)) ?? '';
      }
      expect(isCanonicalTextOf(text, v)).toBe(false);
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(isCanonicalTextOf('{"a":1,"self":{"a":1,"self":{}}}', cyclic)).toBe(false);
  });

  it('agrees with canonicalJson on integer-like member names', () => {
    const v = { '10': 'a', '9': 'b', x: 'c' };
    expect(isCanonicalTextOf(canonicalJson(v), v)).toBe(true);
    expect(isCanonicalTextOf('{"9":"b","10":"a","x":"c"}', v)).toBe(false);
  });
});
