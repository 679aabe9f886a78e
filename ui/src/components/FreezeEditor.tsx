// Freeze-window editor: recurring (RRULE in a time zone, with a duration) and one-off windows, with a
// five-week calendar preview computed the way the server's freeze gate computes occurrences.
import { useEffect, useMemo, useState } from 'react';
import type { FreezeWindow } from '../api/types';
import { addWallMinutes } from '../lib/zoned';

type RRuleModule = typeof import('rrule');
const DTSTART = '20000101T000000';

interface Span {
  name: string;
  start: Date;
  end: Date;
}

function occurrences(rr: RRuleModule, windows: FreezeWindow[], from: Date, to: Date): Span[] {
  const out: Span[] = [];
  for (const w of windows) {
    if (w.kind === 'one_off') {
      const start = new Date(w.start);
      const end = new Date(w.end);
      if (end > from && start < to) out.push({ name: w.name, start, end });
      continue;
    }
    try {
      const rule = rr.rrulestr(`DTSTART;TZID=${w.timezone}:${DTSTART}\nRRULE:${w.rrule.replace(/^RRULE:/, '')}`);
      const back = new Date(from.getTime() - w.durationMinutes * 60_000);
      for (const start of rule.between(back, to, true).slice(0, 500)) {
        out.push({ name: w.name, start, end: addWallMinutes(start, w.durationMinutes, w.timezone) });
      }
    } catch {
      // an invalid rule is reported by the server on save
    }
  }
  return out;
}

export function CalendarPreview({ windows }: { windows: FreezeWindow[] }) {
  const [rr, setRr] = useState<RRuleModule>();
  useEffect(() => {
    // Loaded on demand so the rest of the app does not carry it.
    void import('rrule').then((m) => setRr(((m as { default?: RRuleModule }).default ?? m) as RRuleModule));
  }, []);
  const days = useMemo(() => {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    start.setDate(start.getDate() - ((start.getDay() + 6) % 7));
    return Array.from({ length: 35 }, (_, i) => {
      const d = new Date(start);
      d.setDate(start.getDate() + i);
      return d;
    });
  }, []);
  const spans = useMemo(
    () => (rr ? occurrences(rr, windows, days[0]!, new Date(days[34]!.getTime() + 86_400_000)) : []),
    [rr, windows, days],
  );
  const today = new Date().toDateString();
  return (
    <div>
      <ul className="calendar plain" aria-label="Freeze windows over the next five weeks">
        {['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].map((d) => (
          <li key={d} className="dow" aria-hidden="true">
            {d}
          </li>
        ))}
        {days.map((d) => {
          const end = new Date(d.getTime() + 86_400_000);
          const hits = spans.filter((s) => s.start < end && s.end > d);
          const covered = hits.reduce(
            (ms, s) => ms + (Math.min(s.end.getTime(), end.getTime()) - Math.max(s.start.getTime(), d.getTime())),
            0,
          );
          const cls = covered >= 86_400_000 - 60_000 ? 'frozen' : covered > 0 ? 'partial' : '';
          const names = [...new Set(hits.map((h) => h.name))];
          const label = `${d.toDateString()}${names.length ? `: frozen (${names.join(', ')})` : ''}`;
          return (
            <li
              key={d.toISOString()}
              className={`day ${cls}`}
              title={label}
              style={d.toDateString() === today ? { outline: '2px solid var(--accent)' } : undefined}
            >
              <span className="sr-only">{label}</span>
              <strong aria-hidden="true">{d.getDate()}</strong>
              {names.map((n) => (
                <div key={n} className="small" aria-hidden="true">
                  {n}
                </div>
              ))}
            </li>
          );
        })}
      </ul>
      <p className="hint">
        Red: frozen all day; amber: frozen part of the day. Times in this browser's zone; rules use each window's zone.
      </p>
    </div>
  );
}

const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function FreezeEditor({ value, onChange }: { value: FreezeWindow[]; onChange: (w: FreezeWindow[]) => void }) {
  const set = (i: number, w: FreezeWindow) => onChange(value.map((x, j) => (j === i ? w : x)));
  return (
    <fieldset>
      <legend>Freeze windows</legend>
      {value.length === 0 ? <p className="muted small">No freeze windows: promotions may run at any time.</p> : null}
      {value.map((w, i) => (
        <div
          // biome-ignore lint/suspicious/noArrayIndexKey: windows are edited in place (names change as you type); position is their identity
          key={`${i}-${w.kind}`}
          className="row"
          style={{ alignItems: 'flex-end', borderBottom: '1px solid var(--border)', paddingBottom: '0.5rem' }}
        >
          <div>
            <label htmlFor={`fw-name-${i}`}>Name</label>
            <input id={`fw-name-${i}`} value={w.name} onChange={(e) => set(i, { ...w, name: e.target.value })} required />
          </div>
          {w.kind === 'recurring' ? (
            <>
              <div>
                <label htmlFor={`fw-rrule-${i}`}>RRULE</label>
                <input id={`fw-rrule-${i}`} value={w.rrule} size={34} onChange={(e) => set(i, { ...w, rrule: e.target.value })} required />
              </div>
              <div>
                <label htmlFor={`fw-tz-${i}`}>Time zone</label>
                <input
                  id={`fw-tz-${i}`}
                  value={w.timezone}
                  size={14}
                  onChange={(e) => set(i, { ...w, timezone: e.target.value })}
                  required
                />
              </div>
              <div>
                <label htmlFor={`fw-dur-${i}`}>Minutes</label>
                <input
                  id={`fw-dur-${i}`}
                  type="number"
                  min={1}
                  value={w.durationMinutes}
                  style={{ width: '6rem' }}
                  onChange={(e) => set(i, { ...w, durationMinutes: Number(e.target.value) })}
                  required
                />
              </div>
            </>
          ) : (
            <>
              <div>
                <label htmlFor={`fw-start-${i}`}>Start</label>
                <input
                  id={`fw-start-${i}`}
                  type="datetime-local"
                  value={toLocalInput(w.start)}
                  onChange={(e) => set(i, { ...w, start: new Date(e.target.value).toISOString() })}
                  required
                />
              </div>
              <div>
                <label htmlFor={`fw-end-${i}`}>End</label>
                <input
                  id={`fw-end-${i}`}
                  type="datetime-local"
                  value={toLocalInput(w.end)}
                  onChange={(e) => set(i, { ...w, end: new Date(e.target.value).toISOString() })}
                  required
                />
              </div>
            </>
          )}
          <div>
            <label htmlFor={`fw-reason-${i}`}>Reason</label>
            <input id={`fw-reason-${i}`} value={w.reason ?? ''} onChange={(e) => set(i, { ...w, reason: e.target.value })} />
          </div>
          <button
            type="button"
            aria-label={`Remove freeze window ${w.name || i + 1}`}
            onClick={() => onChange(value.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <div className="row" style={{ marginTop: '0.5rem' }}>
        <button
          type="button"
          onClick={() =>
            onChange([
              ...value,
              {
                kind: 'recurring',
                name: `weekend-${value.length + 1}`,
                rrule: 'FREQ=WEEKLY;BYDAY=FR;BYHOUR=18;BYMINUTE=0',
                timezone: TZ,
                durationMinutes: 60 * 62,
              },
            ])
          }
        >
          Add recurring window
        </button>
        <button
          type="button"
          onClick={() => {
            const start = new Date(Date.now() + 86_400_000);
            start.setMinutes(0, 0, 0);
            onChange([
              ...value,
              {
                kind: 'one_off',
                name: `freeze-${value.length + 1}`,
                start: start.toISOString(),
                end: new Date(start.getTime() + 4 * 3_600_000).toISOString(),
              },
            ]);
          }}
        >
          Add one-off window
        </button>
      </div>
      <h3>Preview</h3>
      <CalendarPreview windows={value} />
    </fieldset>
  );
}

function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
