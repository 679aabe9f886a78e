// Freeze-window gate: a promotion waits while a recurring (RRULE in a time zone, with a duration) or
// one-off window covers now; an active emergency override for this gate lets it pass.
import rrulePkg from 'rrule';
import { addWallMinutes, formatZoned } from '../core/zoned.js';
import type { FreezeWindow } from '../environments/freeze.js';
import type { Gate, PromotionContext } from './types.js';

const { rrulestr } = rrulePkg;

export interface ActiveWindow {
  name: string;
  start: Date;
  end: Date;
  reason: string | undefined;
  /** The window's time zone (one-off windows: UTC). */
  timezone: string;
}

/**
 * The DTSTART occurrences are generated from (a local midnight, so BYHOUR-only rules start on the hour).
 * rrule walks every occurrence from DTSTART, and from a fixed epoch that cost ~280 ms per evaluation.
 * Windows last at most 31 days, so only occurrences of the last 32 days matter: when the rule's BY*
 * parts fix its phase (and INTERVAL is 1), starting 32 days back gives the same occurrences. A rule whose
 * phase comes from DTSTART itself (e.g. WEEKLY without BYDAY, or INTERVAL=2) keeps the fixed epoch.
 */
function dtstart(rule: string, now: Date): string {
  const freq = rule.match(/FREQ=(\w+)/)?.[1];
  const phased =
    freq === 'DAILY' || freq === 'HOURLY' || freq === 'MINUTELY'
      ? true
      : freq === 'WEEKLY'
        ? /BYDAY=/.test(rule)
        : freq === 'MONTHLY'
          ? /BYMONTHDAY=|BYDAY=|BYSETPOS=/.test(rule)
          : freq === 'YEARLY'
            ? /BYMONTH=/.test(rule) && /BYMONTHDAY=|BYDAY=/.test(rule)
            : false;
  if (!phased || /INTERVAL=(?!1(;|$))\d+/.test(rule)) return '20000101T000000';
  const d = new Date(now.getTime() - 32 * 86_400_000);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}T000000`;
}

const parsed = new Map<string, ReturnType<typeof rrulestr>>();
function ruleOf(text: string) {
  let r = parsed.get(text);
  if (!r) {
    r = rrulestr(text);
    if (parsed.size > 1000) parsed.clear();
    parsed.set(text, r);
  }
  return r;
}

// Expanded calendars: each rule's occurrences around the moment it was first asked about, so an evaluation
// is a binary search instead of walking the rule (a few ms each with a time zone). The rule text names its
// environment's window and DTSTART, so a changed window or a new day is a new entry.
interface Expansion {
  lo: number;
  hi: number;
  /** Every occurrence from lo to hi, ascending (ms). */
  starts: number[];
}
const expanded = new Map<string, Expansion>();
const BEHIND_MS = 40 * 86_400_000;
const AHEAD_MS = 35 * 86_400_000;
const MAX_OCCURRENCES = 5000;

/** The rule's latest occurrence at or before now: the same answer as rrulestr(text).before(now, true). */
export function latestStart(text: string, now: Date): Date | null {
  const t = now.getTime();
  let e = expanded.get(text);
  if (!e || t < e.lo || t > e.hi) {
    const lo = t - BEHIND_MS;
    const starts = ruleOf(text)
      .between(new Date(lo), new Date(t + AHEAD_MS), true, (_d, n) => n < MAX_OCCURRENCES)
      .map((d) => d.getTime());
    // A rule with very many occurrences is expanded up to its last one kept; later moments expand anew.
    const hi = starts.length >= MAX_OCCURRENCES ? starts[starts.length - 1]! : t + AHEAD_MS;
    e = { lo, hi: Math.max(hi, t), starts };
    if (expanded.size > 1000) expanded.clear();
    expanded.set(text, e);
  }
  // The first occurrence after now; the one before it is the answer.
  let a = 0;
  let b = e.starts.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (e.starts[m]! <= t) a = m + 1;
    else b = m;
  }
  if (a > 0) return new Date(e.starts[a - 1]!);
  // No occurrence between lo and now: an earlier one, if any, is the answer.
  return ruleOf(text).before(now, true);
}

/** The rule of a recurring window as it is walked at `now`: its DTSTART (see dtstart) in its zone, and the RRULE. */
export function ruleTextAt(w: { rrule: string; timezone: string }, now: Date): string {
  const rule = w.rrule.replace(/^RRULE:/, '');
  return `DTSTART;TZID=${w.timezone}:${dtstart(rule, now)}\nRRULE:${rule}`;
}

export function activeWindows(windows: FreezeWindow[], now: Date): ActiveWindow[] {
  const active: ActiveWindow[] = [];
  for (const w of windows) {
    if (w.kind === 'one_off') {
      const start = new Date(w.start);
      const end = new Date(w.end);
      if (start <= now && now < end) active.push({ name: w.name, start, end, reason: w.reason, timezone: 'UTC' });
      continue;
    }
    // The latest start at or before now; a window lasts durationMinutes on its zone's wall clock (Friday
    // 18:00 for 63 h ends Monday 09:00 local, also on the weekend the clocks change), so an earlier start
    // can only end earlier: the latest one decides.
    const start = latestStart(ruleTextAt(w, now), now);
    if (!start) continue;
    const end = addWallMinutes(start, w.durationMinutes, w.timezone);
    if (now < end) active.push({ name: w.name, start, end, reason: w.reason, timezone: w.timezone });
  }
  return active;
}

/**
 * When the environment is no longer frozen: the end of the windows active now, and of any window that is
 * active at that end (back to back or overlapping), followed until a moment no window covers. Null when
 * none is active now.
 */
export function freezeEnds(windows: FreezeWindow[], now: Date): { at: Date; window: ActiveWindow } | null {
  let active = activeWindows(windows, now);
  let last: ActiveWindow | null = null;
  for (let i = 0; i < 100 && active.length > 0; i++) {
    last = active.reduce((a, b) => (b.end > a.end ? b : a));
    active = activeWindows(windows, last.end);
  }
  return last ? { at: last.end, window: last } : null;
}

export const freezeWindowGate: Gate = {
  id: 'freeze_window',
  description: 'Waits while a freeze window of the target environment covers now; an emergency override lets it pass.',
  async evaluate(ctx: PromotionContext) {
    const now = new Date(ctx.now);
    const active = activeWindows(ctx.environment.freezeWindows as FreezeWindow[], now);
    const inputs = {
      windows: ctx.environment.freezeWindows.length,
      active: active.map((w) => ({
        name: w.name,
        start: w.start.toISOString(),
        end: w.end.toISOString(),
        timezone: w.timezone,
        endLocal: formatZoned(w.end, w.timezone),
      })),
      now: ctx.now,
    };
    if (active.length === 0) return { status: 'pass', reason: 'no freeze window is active', inputs };
    const override = ctx.overrides.find((o) => o.gate === 'freeze_window' && new Date(o.expiresAt) > now);
    // The freeze ends when no window covers the moment any more (windows back to back are followed).
    const ends = freezeEnds(ctx.environment.freezeWindows as FreezeWindow[], now)!;
    const end = ends.at;
    const names = active.map((w) => `"${w.name}"`).join(', ');
    if (override) {
      return {
        status: 'pass',
        reason: `freeze window ${names} overridden by ${override.by.username} until ${override.expiresAt}: ${override.reason}`,
        inputs: { ...inputs, override: { by: override.by.username, reason: override.reason, expiresAt: override.expiresAt } },
      };
    }
    return {
      status: 'pending',
      reason: `freeze window ${names} is active until ${end.toISOString()} (${formatZoned(end, ends.window.timezone)}); the promotion continues then (or after an emergency override)`,
      inputs: { ...inputs, endsAt: end.toISOString(), endsAtLocal: formatZoned(end, ends.window.timezone) },
      retryAt: end.toISOString(),
    };
  },
};
