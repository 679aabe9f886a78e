// How references and times read everywhere: local time plus relative time, full ids and digests that wrap
// and copy. Pages use these instead of slicing ids or printing raw ISO strings.
import { useEffect, useRef, useState } from 'react';

/** "just now", "3 min ago", "in 6 h", "2 d ago"; older than two weeks: the local date. */
export function relative(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  const abs = Math.abs(s);
  const past = s >= 0;
  let amount: string;
  if (abs < 45) return past ? 'just now' : 'in a moment';
  // Rounded first, so 59.9 minutes reads "1 h", not "60 min".
  const minutes = Math.round(abs / 60);
  const hours = Math.round(abs / 3600);
  const days = Math.round(abs / 86_400);
  if (minutes < 60) amount = `${minutes} min`;
  else if (hours < 24) amount = `${hours} h`;
  else if (days < 14) amount = `${days} d`;
  else return d.toLocaleDateString();
  return past ? `${amount} ago` : `in ${amount}`;
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Local wall-clock time, "14:05"; with the date ("3 Dec 14:05") when it is not today. */
export function localTime(d: Date, now = new Date()): string {
  const hm = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  if (sameDay(d, now)) return hm;
  const sameYear = d.getFullYear() === now.getFullYear();
  const date = d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
  return `${date} ${hm}`;
}

/** "14:05 (3 min ago)" as plain text, for sentences and titles. */
export function whenText(at: string | Date, now = Date.now()): string {
  const d = typeof at === 'string' ? new Date(at) : at;
  return `${localTime(d, new Date(now))} (${relative(d, now)})`;
}

/** Re-renders every `ms` so relative times stay true on a page left open. */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/**
 * A moment as local time plus relative time: "14:05 (3 min ago)"; the full ISO timestamp in the title.
 * `relativeOnly` keeps just "3 min ago" for dense lists (the title still has the exact time).
 */
export function When({ at, relativeOnly = false }: { at: string | Date | null | undefined; relativeOnly?: boolean }) {
  useNow(30_000);
  // The clock at render, not at the last tick: fresh data must not read "in a moment".
  const now = Date.now();
  if (!at) return <span className="muted">—</span>;
  const d = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(d.getTime())) return <span className="muted">—</span>;
  const iso = d.toISOString();
  return (
    <time dateTime={iso} title={iso} className="when">
      {relativeOnly ? relative(d, now) : `${localTime(d, new Date(now))} (${relative(d, now)})`}
    </time>
  );
}

async function writeClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A small button that copies `value` and says so. */
export function CopyButton({ value, label = 'Copy' }: { value: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return (
    <button
      type="button"
      className="copy"
      aria-label={`${label} ${value}`}
      title={`${label} to the clipboard`}
      onClick={async () => {
        setState((await writeClipboard(value)) ? 'copied' : 'failed');
        clearTimeout(timer.current);
        timer.current = setTimeout(() => setState('idle'), 1500);
      }}
    >
      <span aria-live="polite">{state === 'copied' ? 'Copied' : state === 'failed' ? 'Select to copy' : 'Copy'}</span>
    </button>
  );
}

/** A full id (never a prefix): monospace, wraps anywhere, with a copy button. */
export function FullId({ id, copy = true }: { id: string | null | undefined; copy?: boolean }) {
  if (!id) return <span className="muted">—</span>;
  return (
    <span className="ref">
      <code className="full-id">{id}</code>
      {copy ? <CopyButton value={id} label="Copy id" /> : null}
    </span>
  );
}

/**
 * A digest or hash in full: wraps instead of overflowing its panel, with a copy button. `full` is
 * accepted for older callers; a digest is always shown whole.
 */
export function Digest({ value, copy = true }: { value: string | null | undefined; full?: boolean; copy?: boolean }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <span className="ref">
      <code className="digest">{value}</code>
      {copy ? <CopyButton value={value} label="Copy" /> : null}
    </span>
  );
}

const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?Z/g;

/** Server text with ISO timestamps in it ("active until 2026-11-30T09:00:00.000Z") read in local time. */
export function localizeTimes(text: string, now = Date.now()): string {
  return text.replace(ISO, (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : whenText(d, now);
  });
}
