// Problem documents for errors that are not Gantry's own: a broken database connection is a 503 the
// client may retry, not an internal error.
import { describe, expect, it } from 'vitest';
import { toProblem } from './problem.js';

describe('toProblem', () => {
  it('answers 503 database_unavailable when the database connection broke or the server restarts', () => {
    for (const err of [
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      new Error('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }) }),
    ]) {
      expect(toProblem(err)).toMatchObject({ status: 503, code: 'database_unavailable' });
    }
  });

  it('keeps other unexpected errors internal', () => {
    expect(toProblem(new Error('boom'))).toMatchObject({ status: 500, code: 'internal' });
    expect(toProblem(Object.assign(new Error('syntax error'), { code: '42601' }))).toMatchObject({ status: 500 });
  });
});
