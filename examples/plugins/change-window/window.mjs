// The change-window arithmetic, free of Gantry: is an instant inside the allowed weekdays and hours of a
// time zone, and if not, when does the next window open.
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Weekday and hour of an instant in a time zone. */
export function localTime(at, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: 'numeric', hourCycle: 'h23' }).formatToParts(at);
  const weekday = parts.find((p) => p.type === 'weekday').value.toLowerCase().slice(0, 3);
  const hour = Number(parts.find((p) => p.type === 'hour').value);
  return { day: weekday, hour };
}

export function inWindow(at, window, timeZone) {
  const { day, hour } = localTime(at, timeZone);
  return window.days.includes(day) && hour >= window.fromHour && hour < window.toHour;
}

/** The start of the next whole hour inside the window, searching one week ahead; null if none. */
export function nextOpening(at, window, timeZone) {
  const t = new Date(at.getTime());
  t.setUTCMinutes(0, 0, 0);
  for (let i = 1; i <= 24 * 8; i++) {
    const candidate = new Date(t.getTime() + i * 3_600_000);
    if (inWindow(candidate, window, timeZone)) return candidate;
  }
  return null;
}

export { DAYS };
