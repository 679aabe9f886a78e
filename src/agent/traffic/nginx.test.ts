import { describe, expect, it } from 'vitest';
import { trafficSplit } from '../../protocol/traffic.js';
import { parseNginxSplit, renderNginxSplit } from './nginx.js';
import { TrafficRouterError } from './types.js';

const split = trafficSplit.parse({
  variations: [
    { name: 'a', weight: 80, servers: [{ host: '10.0.0.1', port: 80 }] },
    { name: 'b', weight: 20, servers: [{ host: '10.0.0.2', port: 80 }] },
  ],
  sticky: { cookie: 'gv' },
});

describe('nginx split file', () => {
  it('reads back what it wrote', () => {
    const content = renderNginxSplit('web', split);
    expect(JSON.parse(content)).toMatchObject({ gantry: 'traffic-split/1', route: 'web' });
    expect(parseNginxSplit(content, 'f')).toEqual(split);
  });

  it('refuses a split the wire schema refuses, saying what to do', () => {
    const bad = JSON.stringify({ split: { ...split, variations: [{ ...split.variations[0], weight: 50 }] } });
    expect(() => parseNginxSplit(bad, 'split file f')).toThrow(TrafficRouterError);
    expect(() => parseNginxSplit(bad, 'split file f')).toThrow(/add up to 100.*configure the route again/);
  });
});
