// "Why blocked, and until when", against a real PostgreSQL and engine with an injected clock: a promotion
// held by a recurring weekend freeze (Friday 18:00 for 63 h in Europe/Berlin) on the weekends the clocks
// change says the freeze ends Monday 09:00 local (07:00 UTC in spring, 08:00 UTC in autumn), who may
// still approve and who may not (separation of duties) and why, and when it could proceed; once approved
// and past the end it proceeds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_DEPLOY_TEMPLATE, type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { ManualClock } from '../core/clock.js';

const clock = new ManualClock('2027-03-27T12:00:00Z'); // Saturday; Berlin's clocks go forward on Sunday 28 March 2027
let f: PromotionFixture;

beforeAll(async () => {
  f = await promotionFixture(
    {
      rita: ['release_manager', 'approver'],
      dave: ['release_manager', 'approver'],
      bob: ['approver'],
      carol: ['approver'],
      vera: ['viewer'],
    },
    clock,
  );
  expect((await f.call('admin', 'POST', '/api/v1/workflow-templates', NO_DEPLOY_TEMPLATE)).status).toBe(201);
  const env = await f.call('admin', 'POST', '/api/v1/environments', {
    name: 'prod',
    requiredApprovals: 1,
    requireSod: true,
    config: { promotionTemplate: 'promote-no-deploy' },
    freezeWindows: [
      {
        kind: 'recurring',
        name: 'weekend',
        rrule: 'FREQ=WEEKLY;BYDAY=FR;BYHOUR=18;BYMINUTE=0',
        timezone: 'Europe/Berlin',
        durationMinutes: 63 * 60,
      },
    ],
  });
  expect(env.status, JSON.stringify(env.body)).toBe(201);
});
afterAll(() => undefined);

const set = (iso: string) => clock.advance(Date.parse(iso) - clock.now().getTime());

async function pendingPromotion(release: string): Promise<string> {
  await f.readyRelease(release, 'rita');
  const p = await f.call('dave', 'POST', '/api/v1/promotions', { releaseId: release, targetEnvironmentId: 'prod', reason: 'weekly' });
  expect(p.status, JSON.stringify(p.body)).toBe(201);
  await f.waitFor(p.body.id, ['pending']);
  for (let i = 0; i < 100; i++) {
    const g = await f.call('admin', 'GET', `/api/v1/promotions/${p.body.id}/gates`);
    if (g.body.gates.length) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return p.body.id;
}

describe('why a promotion waits, and until when', () => {
  it('says the freeze ends Monday 09:00 Berlin time on the weekend the clocks go forward, who may approve, and when it could proceed', async () => {
    const id = await pendingPromotion('5.0.0');
    const why = await f.call('vera', 'GET', `/api/v1/promotions/${id}/why`);
    expect(why.status, JSON.stringify(why.body)).toBe(200);
    const w = why.body;
    expect(w.verdict).toBe('waiting');
    const freeze = w.gates.find((g: { gate: string }) => g.gate === 'freeze_window');
    expect(freeze).toMatchObject({
      status: 'pending',
      opensAt: '2027-03-29T07:00:00.000Z',
      opensAtLocal: 'Mon 29 Mar 2027 09:00 Europe/Berlin (UTC+02:00)',
    });
    expect(freeze.unblock).toMatch(/emergency override/);
    expect(w.opensAt).toBe('2027-03-29T07:00:00.000Z');
    expect(w.approvals).toMatchObject({ required: 1, counted: [], needed: 1 });
    expect(w.approvals.eligible.map((e: { username: string }) => e.username)).toEqual(['admin', 'bob', 'carol']);
    expect(w.approvals.excluded).toEqual([
      { username: 'dave', why: 'requested this promotion (separation of duties)' },
      { username: 'rita', why: 'created release 5.0.0 (separation of duties)' },
    ]);
    expect(w.earliestProceedAt).toBe('2027-03-29T07:00:00.000Z');
    expect(w.summary).toBe(
      'Waiting for 1 more approval(s) (admin, bob, carol may give it) and freeze_window until Mon 29 Mar 2027 09:00 Europe/Berlin (UTC+02:00). ' +
        'With the approvals now, it could proceed at Mon 29 Mar 2027 09:00 Europe/Berlin (UTC+02:00). ' +
        'May not approve: dave (requested this promotion (separation of duties)), rita (created release 5.0.0 (separation of duties)).',
    );

    // Approved before the end: nothing but time is left.
    set('2027-03-29T06:59:00Z');
    expect((await f.call('bob', 'POST', `/api/v1/promotions/${id}/approve`, { comment: 'ok' })).status).toBe(200);
    const after = (await f.call('admin', 'GET', `/api/v1/promotions/${id}/why`)).body;
    expect(after.approvals).toMatchObject({ counted: ['bob'], needed: 0 });
    expect(after.summary).toMatch(
      /^Waiting for freeze_window until Mon 29 Mar 2027 09:00 Europe\/Berlin \(UTC\+02:00\)\. It proceeds by itself at/,
    );
    // Past the end, the next evaluation (an approval wakes it here; the engine's timer otherwise) lets it through.
    set('2027-03-29T07:00:01Z');
    expect((await f.call('carol', 'POST', `/api/v1/promotions/${id}/approve`, {})).status).toBe(200);
    const done = await f.waitFor(id, ['deployed']);
    expect(done.decisionRecord.outcome).toBe('approved');
  });

  it('says 09:00 Berlin time (08:00 UTC) on the weekend the clocks go back', async () => {
    set('2027-10-30T12:00:00Z'); // Saturday; clocks go back on Sunday 31 October 2027
    const id = await pendingPromotion('5.1.0');
    const w = (await f.call('admin', 'GET', `/api/v1/promotions/${id}/why`)).body;
    expect(w.opensAt).toBe('2027-11-01T08:00:00.000Z');
    expect(w.opensAtLocal).toBe('Mon 1 Nov 2027 09:00 Europe/Berlin (UTC+01:00)');
    const gates = (await f.call('admin', 'GET', `/api/v1/promotions/${id}/gates`)).body;
    expect(gates.gates.find((g: { gate: string }) => g.gate === 'freeze_window').retryAt).toBe('2027-11-01T08:00:00.000Z');
    // The dry run answers the same for a release not yet requested.
    await f.readyRelease('5.2.0', 'rita');
    const dry = (await f.call('dave', 'POST', '/api/v1/promotions/preview', { releaseId: '5.2.0', targetEnvironmentId: 'prod' })).body;
    expect(dry.why.opensAtLocal).toBe('Mon 1 Nov 2027 09:00 Europe/Berlin (UTC+01:00)');
    expect(dry.why.approvals.excluded.map((e: { username: string }) => e.username)).toEqual(['dave', 'rita']);
  });

  it('explains a refusal: which gate fails and what would make it pass', async () => {
    set('2027-11-03T12:00:00Z');
    await f.readyRelease('6.0.0', 'rita');
    const p = await f.call('dave', 'POST', '/api/v1/promotions', { releaseId: '6.0.0', targetEnvironmentId: 'prod', reason: 'x' });
    await f.waitFor(p.body.id, ['awaiting_approval']);
    expect((await f.call('bob', 'POST', `/api/v1/promotions/${p.body.id}/reject`, { comment: 'breaks checkout' })).status).toBe(200);
    const w = (await f.call('admin', 'GET', `/api/v1/promotions/${p.body.id}/why`)).body;
    expect(w.verdict).toBe('refused');
    expect(w.earliestProceedAt).toBeNull();
    expect(w.summary).toMatch(/^Refused by approvals \(rejected by bob\)\. To pass: a rejection ends the promotion/);
    expect(w.approvals.excluded).toContainEqual({ username: 'bob', why: 'rejected it' });
  });
});
