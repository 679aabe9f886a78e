// Structured JSON logs (pino). Secrets never reach a log line: known secret-bearing keys are redacted.
import { type Logger, pino } from 'pino';

export type { Logger };

export const redactPaths = ['req.headers.authorization', 'req.headers["x-agent-token"]', '*.token', '*.password', '*.secret'];

export function createLogger(level = 'info'): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' } });
}
