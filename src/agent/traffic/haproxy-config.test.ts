import { describe, expect, it } from 'vitest';
import { trafficSplit } from '../../protocol/traffic.js';
import { haproxyQuote, haproxyServers, renderedSplit, renderHaproxy } from './haproxy-config.js';
import { TrafficRouterError } from './types.js';

const split = trafficSplit.parse({
  variations: [
    {
      name: 'a',
      weight: 90,
      servers: [
        { host: '10.0.0.1', port: 8080 },
        { host: '10.0.0.2', port: 8080 },
      ],
    },
    {
      name: 'b',
      weight: 10,
      servers: [
        { host: 'fd00::3', port: 8080 },
        { host: '10.0.0.4', port: 8080 },
        { host: '10.0.0.5', port: 8080 },
      ],
    },
  ],
});

describe('haproxyServers', () => {
  it("spreads a variation's percent × 2 over its servers, keeping the split exact", () => {
    const s = haproxyServers(split);
    expect(s.map((x) => [x.name, x.weight])).toEqual([
      ['a_0', 90],
      ['a_1', 90],
      ['b_0', 7],
      ['b_1', 7],
      ['b_2', 6],
    ]);
    expect(s.find((x) => x.name === 'b_0')!.address).toBe('[fd00::3]:8080');
    expect(s.every((x) => x.weight <= 256)).toBe(true);
  });

  it('disables the servers of a variation at 0 % (their sticky clients move)', () => {
    const off = { ...split, variations: [split.variations[0]!, { ...split.variations[1]!, weight: 0 }] };
    off.variations[0] = { ...off.variations[0]!, weight: 100 };
    expect(
      haproxyServers(off)
        .filter((x) => x.disabled)
        .map((x) => x.name),
    ).toEqual(['b_0', 'b_1', 'b_2']);
  });
});

describe('renderHaproxy', () => {
  it('renders only the weighted backend when there is no header or cookie', () => {
    const out = renderHaproxy('web', 'gantry_web', split);
    expect(out).toContain('backend gantry_web\n  mode http\n  balance roundrobin\n');
    expect(out).toContain('  server a_0 10.0.0.1:8080 weight 90\n');
    expect(out).not.toMatch(/cookie|use-server|hdr_/);
    expect(renderedSplit(out)).toEqual(split);
  });

  it('adds the sticky cookie per server and the header rules with never-weighted copies of the header variation', () => {
    const out = renderHaproxy('web', 'gantry_web', {
      ...split,
      header: { name: 'X-Canary', value: 'yes', variation: 'b' },
      sticky: { cookie: 'gv' },
    });
    expect(out).toContain('  cookie gv insert indirect nocache\n');
    expect(out).toContain('  ignore-persist if { req.hdr(X-Canary) -m str "yes" }\n');
    expect(out).toContain('  use-server hdr_b_0 if { req.hdr(X-Canary) -m str "yes" } { rand(3) -m int 0 }\n');
    expect(out).toContain('  use-server hdr_b_1 if { req.hdr(X-Canary) -m str "yes" } { rand(2) -m int 0 }\n');
    expect(out).toContain('  use-server hdr_b_2 if { req.hdr(X-Canary) -m str "yes" }\n');
    expect(out).toContain('  server b_1 10.0.0.4:8080 weight 7 cookie b_1\n');
    expect(out).toContain('  server hdr_b_2 10.0.0.5:8080 weight 0\n');
  });

  it('quotes the header value as text, and refuses a line break', () => {
    expect(haproxyQuote('a "b" $HOME \\')).toBe('"a \\"b\\" \\$HOME \\\\"');
    expect(() => haproxyQuote('a\nbackend evil')).toThrow(TrafficRouterError);
  });

  it('knows a file it did not render', () => {
    expect(renderedSplit('backend x\n')).toBeNull();
  });
});
