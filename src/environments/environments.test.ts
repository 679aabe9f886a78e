import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});

describe('environments API', () => {
  it('creates environments in order and lists them with a cursor', async () => {
    for (const name of ['dev', 'staging', 'prod']) {
      const r = await t.call('POST', '/api/v1/environments', { name, displayName: name.toUpperCase() });
      expect(r.status).toBe(201);
    }
    const page1 = await t.call('GET', '/api/v1/environments?limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((e: { name: string }) => e.name)).toEqual(['dev', 'staging']);
    expect(page1.body.items.map((e: { orderIndex: number }) => e.orderIndex)).toEqual([0, 1]);
    const page2 = await t.call('GET', `/api/v1/environments?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.items.map((e: { name: string }) => e.name)).toEqual(['prod']);
    expect(page2.body.nextCursor).toBeNull();
  });

  it('gets by name and by id, and updates', async () => {
    const byName = await t.call('GET', '/api/v1/environments/prod');
    expect(byName.status).toBe(200);
    const byId = await t.call('GET', `/api/v1/environments/${byName.body.id}`);
    expect(byId.body.name).toBe('prod');
    const upd = await t.call('PATCH', '/api/v1/environments/prod', { requiredApprovals: 2, requireSod: true });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ requiredApprovals: 2, requireSod: true, name: 'prod' });
  });

  it('validates freeze windows and names the failing field', async () => {
    const bad = await t.call('PATCH', '/api/v1/environments/prod', {
      freezeWindows: [{ kind: 'recurring', name: 'weekend', rrule: 'FREQ=SOMETIMES', timezone: 'Mars/Base', durationMinutes: 60 }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
    const paths = bad.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toContain('body.freezeWindows.0.rrule');
    expect(paths).toContain('body.freezeWindows.0.timezone');
    const oneOff = await t.call('PATCH', '/api/v1/environments/prod', {
      freezeWindows: [{ kind: 'one_off', name: 'xmas', start: '2026-12-24T00:00:00Z', end: '2026-12-23T00:00:00Z' }],
    });
    expect(oneOff.status).toBe(400);
    expect(oneOff.body.errors[0].path).toBe('body.freezeWindows.0.end');
    const good = await t.call('PATCH', '/api/v1/environments/prod', {
      freezeWindows: [
        {
          kind: 'recurring',
          name: 'friday',
          rrule: 'FREQ=WEEKLY;BYDAY=FR;BYHOUR=18;BYMINUTE=0',
          timezone: 'Europe/Berlin',
          durationMinutes: 3840,
        },
        { kind: 'one_off', name: 'xmas', start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z' },
      ],
    });
    expect(good.status).toBe(200);
    expect(good.body.freezeWindows).toHaveLength(2);
  });

  it('refuses bad input with a problem document and writes nothing', async () => {
    const before = await t.db.query('SELECT count(*)::int AS n FROM environments');
    const dup = await t.call('POST', '/api/v1/environments', { name: 'dev' });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ code: 'already_exists', status: 409 });
    expect(dup.body.errors[0].path).toBe('body.name');
    const unknown = await t.call('POST', '/api/v1/environments', { name: 'qa', colour: 'blue' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].path).toBe('body.colour');
    const wrongType = await t.call('POST', '/api/v1/environments', { name: 'qa', requiredApprovals: 'two' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.errors[0].path).toBe('body.requiredApprovals');
    const badName = await t.call('POST', '/api/v1/environments', { name: 'Has Spaces' });
    expect(badName.status).toBe(400);
    const malformed = await t.call('POST', '/api/v1/environments', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('malformed_json');
    const huge = await t.call('POST', '/api/v1/environments', { name: 'qa', displayName: 'x'.repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    const badId = await t.call('GET', '/api/v1/environments/00000000-0000-0000-0000-00000000000z');
    expect(badId.status).toBe(404);
    const after = await t.db.query('SELECT count(*)::int AS n FROM environments');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
