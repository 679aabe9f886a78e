// Wall-clock arithmetic in an IANA time zone, as the server's freeze gate does it (src/core/zoned.ts; the
// UI bundle does not import server code): a freeze window lasts its duration on its zone's wall clock.

/** Milliseconds the zone's wall clock is ahead of UTC at `at`. */
export function zoneOffsetMs(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(at);
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
