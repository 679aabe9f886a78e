// POST /api/v1/config-applies refuses malformed records with a problem document (4xx, never 5xx) and
// stores nothing; a well-formed one is read back; an unknown id is 404.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

describe('configuration apply records', () => {
  let t: TestApp;
  const good = {
    sha256: 'a'.repeat(64),
    files: [{ path: 'gantry.yaml', sha256: 'a'.repeat(64) }],
    created: 1,
    changed: 0,
    deleted: 0,
    changes: [],
  };
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('refuses bad input with a 4xx problem and records nothing', async () => {
    for (const body of [
      { ...good, sha256: 'not-a-hash' },
      { ...good, sha256: 'A'.repeat(64) },
      { ...good, created: -1 },
      { ...good, files: [{ path: '', sha256: 'a'.repeat(64) }] },
      { ...good, extra: true },
      {},
    ]) {
      const r = await t.call('POST', '/api/v1/config-applies', body);
      expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(typeof r.body.code).toBe('string');
    }
    expect((await t.call('GET', '/api/v1/config-applies')).body.items).toEqual([]);
    expect((await t.call('GET', '/api/v1/config-applies/00000000-0000-7000-8000-000000000000')).status).toBe(404);
  });

  it('reads back a well-formed record', async () => {
    const r = await t.call('POST', '/api/v1/config-applies', good);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect((await t.call('GET', `/api/v1/config-applies/${r.body.id}`)).body).toMatchObject({ sha256: good.sha256, created: 1 });
  });
});
