// Freeze windows: recurring rules in a time zone with a duration, one-off windows, overrides.
import rrulePkg from 'rrule';
import { describe, expect, it } from 'vitest';
import { formatZoned } from '../core/zoned.js';
import type { FreezeWindow } from '../environments/freeze.js';
import { activeWindows, freezeEnds, freezeWindowGate, latestStart, ruleTextAt } from './freeze.js';
import type { PromotionContext } from './types.js';

const { rrulestr } = rrulePkg;

const friday: FreezeWindow = {
  kind: 'recurring',
  name: 'weekend',
  rrule: 'FREQ=WEEKLY;BYDAY=FR;BYHOUR=18',
  timezone: 'Europe/Berlin',
  durationMinutes: 64 * 60,
};

describe('activeWindows', () => {
  it('follows the time zone: Friday 18:00 in Berlin is 17:00 UTC in winter and 16:00 UTC in summer', () => {
    expect(activeWindows([friday], new Date('2026-11-27T16:59:00Z'))).toEqual([]);
    expect(activeWindows([friday], new Date('2026-11-27T17:00:00Z'))[0]?.end.toISOString()).toBe('2026-11-30T09:00:00.000Z');
    expect(activeWindows([friday], new Date('2026-07-03T15:59:00Z'))).toEqual([]);
    expect(activeWindows([friday], new Date('2026-07-03T16:00:00Z'))[0]?.start.toISOString()).toBe('2026-07-03T16:00:00.000Z');
    expect(activeWindows([friday], new Date('2026-11-30T09:00:00Z'))).toEqual([]);
  });

  it('counts the duration on the wall clock of its zone, so the window ends at the same local time across a daylight-saving change', () => {
    const weekend: FreezeWindow = { ...friday, durationMinutes: 63 * 60 }; // Friday 18:00 → Monday 09:00
    const cases: [string, string, string][] = [
      // an ordinary winter weekend: 09:00 CET
      ['2026-03-21T12:00:00Z', '2026-03-23T08:00:00.000Z', 'Mon 23 Mar 2026 09:00 Europe/Berlin (UTC+01:00)'],
      // clocks go forward on Sunday 29 March: still 09:00 local, now CEST, so one hour earlier in UTC
      ['2026-03-28T12:00:00Z', '2026-03-30T07:00:00.000Z', 'Mon 30 Mar 2026 09:00 Europe/Berlin (UTC+02:00)'],
      // clocks go back on Sunday 25 October: 09:00 CET again
      ['2026-10-24T12:00:00Z', '2026-10-26T08:00:00.000Z', 'Mon 26 Oct 2026 09:00 Europe/Berlin (UTC+01:00)'],
    ];
    for (const [now, end, local] of cases) {
      const ends = freezeEnds([weekend], new Date(now));
      expect(ends?.at.toISOString(), now).toBe(end);
      expect(ends?.window.timezone).toBe('Europe/Berlin');
      expect(activeWindows([weekend], new Date(new Date(end).getTime() - 1))).toHaveLength(1);
      expect(activeWindows([weekend], new Date(end))).toEqual([]);
      expect(formatZoned(ends!.at, ends!.window.timezone)).toBe(local);
    }
  });

  it('follows windows back to back to the moment none covers', () => {
    const evening: FreezeWindow = {
      kind: 'recurring',
      name: 'evening',
      rrule: 'FREQ=DAILY;BYHOUR=18',
      timezone: 'UTC',
      durationMinutes: 6 * 60,
    };
    const night: FreezeWindow = {
      kind: 'recurring',
      name: 'night',
      rrule: 'FREQ=DAILY;BYHOUR=0',
      timezone: 'UTC',
      durationMinutes: 7 * 60,
    };
    const ends = freezeEnds([evening, night], new Date('2026-12-01T19:00:00Z'));
    expect(ends?.at.toISOString()).toBe('2026-12-02T07:00:00.000Z');
    expect(ends?.window.name).toBe('night');
    expect(freezeEnds([evening, night], new Date('2026-12-02T12:00:00Z'))).toBeNull();
  });

  it('handles one-off windows and a yearly window', () => {
    const xmas: FreezeWindow = {
      kind: 'recurring',
      name: 'xmas',
      rrule: 'FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=20',
      timezone: 'UTC',
      durationMinutes: 14 * 24 * 60,
    };
    expect(activeWindows([xmas], new Date('2027-01-02T00:00:00Z'))[0]?.end.toISOString()).toBe('2027-01-03T00:00:00.000Z');
    expect(activeWindows([xmas], new Date('2027-01-04T00:00:00Z'))).toEqual([]);
    const once: FreezeWindow = { kind: 'one_off', name: 'migration', start: '2026-12-01T00:00:00Z', end: '2026-12-02T00:00:00Z' };
    expect(activeWindows([once], new Date('2026-12-01T12:00:00Z')).map((w) => w.name)).toEqual(['migration']);
    expect(activeWindows([once], new Date('2026-12-02T00:00:00Z'))).toEqual([]);
  });

  it('keeps the phase of a rule with INTERVAL=2', () => {
    // Every other Monday counted from 2000-01-03 (a Monday): 2026-11-23 is one of them, 2026-11-30 is not.
    const biweekly: FreezeWindow = {
      kind: 'recurring',
      name: 'biweekly',
      rrule: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO',
      timezone: 'UTC',
      durationMinutes: 60,
    };
    const a = activeWindows([biweekly], new Date('2026-11-23T00:30:00Z')).length;
    const b = activeWindows([biweekly], new Date('2026-11-30T00:30:00Z')).length;
    expect(a + b).toBe(1);
  });
});

describe('expanded calendars', () => {
  it('give the latest start walking the rule gives, at moments back and forth over months', () => {
    const rules = [
      friday,
      { rrule: 'FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=20', timezone: 'America/New_York' },
      { rrule: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO', timezone: 'UTC' },
    ];
    let t = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 30; i++) {
      // Irregular steps, forwards and sometimes back, so kept ranges are left and entered again.
      t += (i % 7 === 3 ? -5 : 1) * ((i * 7919) % 1440) * 60_000 * 9;
      const now = new Date(t);
      for (const w of rules) {
        const text = ruleTextAt(w, now);
        expect(latestStart(text, now)?.toISOString(), `${w.rrule} at ${now.toISOString()}`).toBe(
          rrulestr(text).before(now, true)?.toISOString(),
        );
      }
    }
  });
});

describe('freeze window gate', () => {
  const ctx = (now: string, overrides: PromotionContext['overrides'] = []) =>
    ({ environment: { freezeWindows: [friday] }, overrides, now }) as unknown as PromotionContext;

  it('is pending during a freeze, says when it ends, and passes with an active override', async () => {
    const during = await freezeWindowGate.evaluate(ctx('2026-11-28T10:00:00Z'), undefined, {} as never);
    expect(during.status).toBe('pending');
    expect(during.reason).toBe(
      'freeze window "weekend" is active until 2026-11-30T09:00:00.000Z (Mon 30 Nov 2026 10:00 Europe/Berlin (UTC+01:00)); the promotion continues then (or after an emergency override)',
    );
    expect(during.retryAt).toBe('2026-11-30T09:00:00.000Z');
    const by = { id: 'u1', username: 'ops' };
    const overridden = await freezeWindowGate.evaluate(
      ctx('2026-11-28T10:00:00Z', [{ gate: 'freeze_window', by, reason: 'incident', expiresAt: '2026-11-28T11:00:00Z' }]),
      undefined,
      {} as never,
    );
    expect(overridden.status).toBe('pass');
    const expired = await freezeWindowGate.evaluate(
      ctx('2026-11-28T12:00:00Z', [{ gate: 'freeze_window', by, reason: 'incident', expiresAt: '2026-11-28T11:00:00Z' }]),
      undefined,
      {} as never,
    );
    expect(expired.status).toBe('pending');
    expect((await freezeWindowGate.evaluate(ctx('2026-11-26T10:00:00Z'), undefined, {} as never)).status).toBe('pass');
  });
});
