import { describe, expect, it } from 'vitest';
import { splitShape, spreadWeight, toPercent } from './support.js';

describe('spreadWeight', () => {
  it('keeps the total exactly, the first servers taking the remainder', () => {
    expect(spreadWeight(20, 3)).toEqual([7, 7, 6]);
    expect(spreadWeight(180, 2)).toEqual([90, 90]);
    expect(spreadWeight(1, 3)).toEqual([1, 0, 0]);
    expect(spreadWeight(0, 2)).toEqual([0, 0]);
  });

  it('refuses what cannot be spread', () => {
    expect(() => spreadWeight(10, 0)).toThrow(RangeError);
    expect(() => spreadWeight(1.5, 2)).toThrow(RangeError);
  });
});

describe('toPercent', () => {
  it('adds up to 100 by largest remainder', () => {
    expect(toPercent({ a: 1, b: 2 })).toEqual({ a: 33, b: 67 });
    expect(toPercent({ a: 180, b: 20 })).toEqual({ a: 90, b: 10 });
    expect(toPercent({ a: 1, b: 1, c: 1 })).toEqual({ a: 34, b: 33, c: 33 });
  });

  it('reads nothing with weight as all zero', () => {
    expect(toPercent({ a: 0, b: 0 })).toEqual({ a: 0, b: 0 });
  });
});

describe('splitShape', () => {
  const servers = [{ host: '10.0.0.1', port: 80 }];
  it('ignores weights only', () => {
    const a = { variations: [{ name: 'a', servers, weight: 10 }] };
    const b = { variations: [{ name: 'a', servers, weight: 90 }] };
    expect(splitShape(a)).toBe(splitShape(b));
    expect(splitShape(a)).not.toBe(splitShape({ ...a, sticky: { cookie: 'v' } }));
    const moved = { variations: [{ name: 'a', servers: [{ host: '10.0.0.2', port: 80 }], weight: 10 }] };
    expect(splitShape(a)).not.toBe(splitShape(moved));
  });
});
