// A real Prometheus for tests: Debian's `prometheus` binary on 127.0.0.1 scraping the given targets every
// second, with its TSDB in a temp dir; ready when /-/ready answers, and waitForSamples polls until a range
// of samples is in before a test queries rates over it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

/**
 * Whether the Prometheus binary is installed. Under CI=true a missing binary is an error (CI must install
 * it); elsewhere tests skip with this message.
 */
export function prometheusMissing(): string | undefined {
  if (existsSync(PROMETHEUS_BIN)) return undefined;
  const msg = `Prometheus tests need ${PROMETHEUS_BIN} (apt-get install -y prometheus)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

export interface TestPrometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Instant query straight to Prometheus (not through Gantry's door): the test's own view. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /**
   * Polls until every series of `selector` has at least minCount samples in the last `window` (so a
   * rate() over that window sees a full range); bounded by timeoutMs.
   */
  waitForSamples(selector: string, minCount: number, opts?: { window?: string; timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startPrometheus(opts: { scrapeTargets: string[]; scrapeIntervalSeconds?: number }): Promise<TestPrometheus> {
  const interval = opts.scrapeIntervalSeconds ?? 1;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-prometheus-'));
  const port = await freePort();
  await writeFile(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  scrape_timeout: ${interval}s`,
      `  evaluation_interval: ${interval}s`,
      'scrape_configs:',
      '  - job_name: services',
      '    static_configs:',
      `      - targets: [${opts.scrapeTargets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited ${child.exitCode}: ${stderr}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready at ${url}: ${stderr}`);
    }
    await pause(100);
  }

  const query: TestPrometheus['query'] = async (promql) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown } };
    if (body.status !== 'success') throw new Error(`prometheus: ${body.error}`);
    return body.data?.result as Awaited<ReturnType<TestPrometheus['query']>>;
  };

  return {
    url,
    query,
    async waitForSamples(selector, minCount, { window = '30s', timeoutMs = 60_000 } = {}) {
      const until = Date.now() + timeoutMs;
      let last = 'no series yet';
      for (;;) {
        const r = await query(`count_over_time(${selector}[${window}])`);
        if (r.length > 0) {
          const counts = r.map((s) => Number(s.value[1]));
          if (Math.min(...counts) >= minCount) return;
          last = `fewest samples ${Math.min(...counts)} of ${minCount}, in ${r.length} series`;
        }
        if (Date.now() > until) throw new Error(`prometheus: ${selector} did not reach ${minCount} samples in ${window}: ${last}`);
        await pause(250);
      }
    },
    stop,
  };
}
