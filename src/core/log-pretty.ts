// The readable log format: pino's JSON line becomes `12:00:01.234 INFO  message  key=value …`, a request
// becomes `GET /api/v1/x 200 12ms`, and an error's stack follows on its own lines.

const LEVELS: Record<number, [name: string, color: string]> = {
  10: ['TRACE', '90'],
  20: ['DEBUG', '36'],
  30: ['INFO ', '32'],
  40: ['WARN ', '33'],
  50: ['ERROR', '31'],
  60: ['FATAL', '35'],
};
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'req', 'res', 'responseTime', 'err']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function clock(time: unknown): string {
  const d = typeof time === 'number' ? new Date(time) : new Date();
  return d.toISOString().slice(11, 23);
}

/** One JSON line of pino → one readable line (plus an error's stack). Lines that are not JSON pass through. */
export function prettyLine(line: string, colors = false): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const paint = (code: string, s: string) => (colors ? `\x1b[${code}m${s}\x1b[0m` : s);
  const [name, color] = LEVELS[Number(e.level)] ?? [String(e.level).padEnd(5), '0'];
  const parts = [paint('90', clock(e.time)), paint(color, name)];
  const req = e.req as { method?: string; url?: string } | undefined;
  const res = e.res as { statusCode?: number } | undefined;
  if (req?.method) parts.push(`${req.method} ${req.url ?? ''}`);
  if (res?.statusCode !== undefined) parts.push(String(res.statusCode));
  if (typeof e.responseTime === 'number') parts.push(`${Math.round(e.responseTime)}ms`);
  if (e.msg !== undefined) parts.push(String(e.msg));
  const fields = Object.entries(e)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${paint('90', `${k}=`)}${value(v)}`);
  let out = [...parts, ...fields].join(' ');
  const err = e.err as { message?: string; stack?: string } | undefined;
  if (err) out += `\n${(err.stack ?? err.message ?? JSON.stringify(err)).replace(/^/gm, '    ')}`;
  return `${out}\n`;
}

/** A pino destination that writes the readable format to `out`. */
export function prettyStream(out: NodeJS.WritableStream, opts: { colors: boolean }): { write(line: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line) out.write(prettyLine(line, opts.colors));
    },
  };
}
