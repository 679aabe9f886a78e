// Wall-clock arithmetic in an IANA time zone with Intl only: the offset of a zone at an instant, the
// instant of a local wall time, adding minutes on the wall clock (as a calendar does across a
// daylight-saving change), and a local time written out with its zone.

// Building an Intl.DateTimeFormat costs far more than using one, so each zone's formatters are kept.
const offsetFormats = new Map<string, Intl.DateTimeFormat>();
const localFormats = new Map<string, Intl.DateTimeFormat>();

function kept(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let f = cache.get(timeZone);
  if (!f) {
    f = make();
    if (cache.size > 500) cache.clear();
    cache.set(timeZone, f);
  }
  return f;
}

/** Milliseconds the zone's wall clock is ahead of UTC at `at`. */
export function zoneOffsetMs(at: Date, timeZone: string): number {
  const format = kept(
    offsetFormats,
    timeZone,
    () =>
      new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      }),
  );
  const parts = format.formatToParts(at);
  const n = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const wall = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
  return wall - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The instant at which the zone's wall clock reads `wall` (its fields taken as UTC). A wall time skipped
 * by a spring-forward change maps to an instant after the gap; one repeated in autumn to one of its two.
 */
export function instantOfWall(wall: number, timeZone: string): Date {
  const first = wall - zoneOffsetMs(new Date(wall), timeZone);
  const second = wall - zoneOffsetMs(new Date(first), timeZone);
  if (second === first) return new Date(first);
  // In a gap neither guess reads `wall`: take the later one (after the change).
  const reads = (t: number) => t + zoneOffsetMs(new Date(t), timeZone) === wall;
  if (reads(first) && reads(second)) return new Date(Math.min(first, second));
  if (reads(first)) return new Date(first);
  if (reads(second)) return new Date(second);
  return new Date(Math.max(first, second));
}

/** `start` plus `minutes` on the zone's wall clock: Friday 18:00 + 63 h is Monday 09:00 local, whatever the clocks did. */
export function addWallMinutes(start: Date, minutes: number, timeZone: string): Date {
  const wall = start.getTime() + zoneOffsetMs(start, timeZone);
  return instantOfWall(wall + minutes * 60_000, timeZone);
}

/** e.g. "Mon 30 Mar 2026 09:00 Europe/Berlin (UTC+02:00)". */
export function formatZoned(at: Date, timeZone: string): string {
  const format = kept(
    localFormats,
    timeZone,
    () =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone,
        weekday: 'short',
        day: 'numeric',
        month: 'short',
        year: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }),
  );
  const text = format.format(at).replace(/,/g, '');
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return `${text} UTC`;
  const off = zoneOffsetMs(at, timeZone) / 60_000;
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${text} ${timeZone} (UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')})`;
}
