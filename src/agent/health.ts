// Health checks (http, tcp, container) with timeout, retries and interval; the way a probe reaches
// the target (direct, or through an SSH tunnel) is passed in.
import net from 'node:net';
import type { HealthCheck } from '../protocol/deployment.js';
import type { TaskLog } from './executors/types.js';

export interface ProbeMeans {
  /** Opens a TCP connection to the service port (directly, or tunnelled over SSH). */
  connect(port: number, timeoutMs: number): Promise<net.Socket | NodeJS.ReadWriteStream>;
  /** Container state: running, and the engine's health status when the image defines one. */
  container(): Promise<{ running: boolean; health: string | null }>;
}

export interface HealthOutcome {
  ok: boolean;
  probes: number;
  detail: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

export function directConnect(host: string) {
  return (port: number, timeoutMs: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
}

/** A minimal HTTP/1.0 GET over any stream, so the same probe works through an SSH channel. */
async function httpStatus(stream: net.Socket | NodeJS.ReadWriteStream, path: string, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      (stream as net.Socket).destroy?.();
      reject(new Error(`no HTTP answer within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (m) {
        clearTimeout(timer);
        (stream as net.Socket).destroy?.();
        (stream as { end?: () => void }).end?.();
        resolve(Number(m[1]));
      }
    });
    stream.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on('end', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before an HTTP status line'));
    });
    stream.write(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: gantry-agent\r\nConnection: close\r\n\r\n`);
  });
}

async function probeOnce(check: HealthCheck, port: number | undefined, means: ProbeMeans): Promise<string | null> {
  const timeoutMs = check.timeout * 1000;
  const state = await means.container();
  if (!state.running) return 'container is not running';
  if (check.type === 'container' || check.type === 'none') {
    if (check.type === 'container' && state.health && state.health !== 'healthy') return `container health is ${state.health}`;
    return null;
  }
  if (port === undefined) return `a ${check.type} health check needs a port (set services.<component>.port or healthCheck.port)`;
  const stream = await means.connect(port, timeoutMs);
  if (check.type === 'tcp') {
    (stream as net.Socket).destroy?.();
    (stream as { end?: () => void }).end?.();
    return null;
  }
  const status = await httpStatus(stream, check.path, timeoutMs);
  return status >= 200 && status < 400 ? null : `GET ${check.path} answered ${status}`;
}

/** Probes until healthy or out of retries; every failed probe is logged. */
export async function waitHealthy(
  check: HealthCheck,
  port: number | undefined,
  means: ProbeMeans,
  log: TaskLog,
  what: string,
  signal?: AbortSignal,
): Promise<HealthOutcome> {
  let detail = '';
  for (let i = 0; i <= check.retries; i++) {
    if (signal?.aborted) return { ok: false, probes: i, detail: 'aborted' };
    try {
      const problem = await probeOnce(check, port, means);
      if (problem === null) {
        log(`${what}: healthy (${check.type}${port ? ` port ${port}` : ''}, probe ${i + 1})`);
        return { ok: true, probes: i + 1, detail: 'healthy' };
      }
      detail = problem;
    } catch (err) {
      detail = (err as Error).message;
    }
    log(`${what}: not healthy yet (probe ${i + 1}/${check.retries + 1}): ${detail}`);
    if (i < check.retries) await sleep(check.interval * 1000, signal);
  }
  return { ok: false, probes: check.retries + 1, detail };
}
