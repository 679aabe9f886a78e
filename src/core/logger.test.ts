// The log formats: which one a process picks, the readable line, and redaction in both.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { logFormat } from './config.js';
import { createLogger } from './logger.js';

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { out, text: () => text };
}

describe('log format', () => {
  it('is the flag, else GANTRY_LOG_FORMAT, else pretty on a terminal and JSON elsewhere', () => {
    expect(logFormat('json', { GANTRY_LOG_FORMAT: 'pretty' }, true)).toBe('json');
    expect(logFormat(undefined, { GANTRY_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(logFormat(undefined, {}, true)).toBe('pretty');
    expect(logFormat(undefined, {}, false)).toBe('json');
    expect(logFormat(undefined, { GANTRY_LOG_FORMAT: '' }, false)).toBe('json');
    expect(() => logFormat('text', {}, true)).toThrow(/log format must be json or pretty .* got "text"/);
  });

  it('pretty: time, level, message and fields on one line; requests as method, path, status, time; stacks indented', () => {
    const { out, text } = capture();
    const log = createLogger('debug', 'pretty', out);
    log.info({ applied: [1, 2], schemaVersion: 97, dataDir: '/var/lib/gantry' }, 'database migrated');
    log.debug({ component: 'postgres' }, 'a line with spaces');
    log.info({ req: { method: 'GET', url: '/api/v1/environments' }, reqId: 'r1' }, 'incoming request');
    log.info({ res: { statusCode: 200 }, responseTime: 12.4, reqId: 'r1' }, 'request completed');
    log.error({ err: new Error('boom') }, 'stopping embedded PostgreSQL failed');
    log.warn({ agent: { token: 'gty_secret' }, nested: { password: 'p' } }, 'careful');
    const lines = text().split('\n');
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}database migrated applied=\[1,2\] schemaVersion=97 dataDir=\/var\/lib\/gantry$/,
    );
    expect(lines[1]).toMatch(/DEBUG a line with spaces component=postgres$/);
    expect(lines[2]).toMatch(/INFO {2}GET \/api\/v1\/environments incoming request reqId=r1$/);
    expect(lines[3]).toMatch(/INFO {2}200 12ms request completed reqId=r1$/);
    expect(lines[4]).toMatch(/ERROR stopping embedded PostgreSQL failed$/);
    expect(lines[5]).toMatch(/^ {4}Error: boom$/);
    expect(lines[6]).toMatch(/^ {4}\s+at /);
    const warn = lines.find((l) => l.includes('careful'))!;
    expect(warn).toContain('agent={"token":"[redacted]"}');
    expect(warn).toContain('nested={"password":"[redacted]"}');
    expect(text()).not.toContain('gty_secret');
    expect(text()).not.toContain('\x1b['); // no colours on a stream that is not a terminal
  });

  it('json: one JSON object per line, redacted', () => {
    const { out, text } = capture();
    createLogger('info', 'json', out).info({ agent: { token: 'gty_secret' } }, 'hello');
    const entry = JSON.parse(text());
    expect(entry).toMatchObject({ level: 30, msg: 'hello', agent: { token: '[redacted]' } });
  });
});
