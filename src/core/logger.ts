// Logs (pino): JSON lines for machines, or one readable line per entry on a terminal. Secrets never reach a
// log line: known secret-bearing keys are redacted before either format sees them.
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogFormat } from './config.js';
import { prettyStream } from './log-pretty.js';

export type { Logger };

export const redactPaths = ['req.headers.authorization', 'req.headers["x-agent-token"]', '*.token', '*.password', '*.secret'];

export function createLogger(level = 'info', format: LogFormat = 'json', out: NodeJS.WritableStream = process.stdout): Logger {
  const opts = { level, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (format === 'json') return out === process.stdout ? pino(opts) : pino(opts, out as DestinationStream);
  const colors = 'isTTY' in out && Boolean(out.isTTY) && !process.env.NO_COLOR;
  return pino(opts, prettyStream(out, { colors }));
}
