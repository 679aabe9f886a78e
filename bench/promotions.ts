// Benchmark: promotion decision latency — every built-in gate evaluated, the decision record written and
// a signed release_decision packet appended — at 50 concurrent promotions, measured from the request
// (promotions.requested_at) to the decision's evidence packet (created_at), both on the database clock;
// and the same with one approval required, from the approval (approvals.approved_at) to the packet.
// Decisions per second count from sending the requests (or approvals) until the last is decided.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { Engine } from '../src/engine/index.js';
import { ephemeralSigner } from '../src/evidence/signer.js';
import { builtinGates } from '../src/gates/registry.js';
import { Outbound } from '../src/http/outbound.js';
import { buildApp, buildRegistry } from '../src/server.js';
import { createPool } from '../src/store/db.js';
import { startEmbedded } from '../src/store/embedded.js';
import { migrate } from '../src/store/migrate.js';
import { bootstrap } from '../src/tenancy/service.js';
import { goal } from './lib/goals.js';

const { values: args } = parseArgs({
  options: { promotions: { type: 'string', default: '50' }, rounds: { type: 'string', default: '4' } },
});
const N = Number(args.promotions);
const ROUNDS = Number(args.rounds);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!adminUrl) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-'));
    const store = await startEmbedded({ dataDir: dir, database: 'postgres' });
    adminUrl = store.connectionString;
    stop = store.stop;
  }
  // Local stand-ins for a scanner and an OPA policy service, so the external gates are in the measurement.
  const services = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        req.url?.startsWith('/verdicts/')
          ? JSON.stringify({ critical: 0, high: 0 })
          : JSON.stringify({ result: { allow: true, reasons: ['ok'] } }),
      );
    });
  });
  await new Promise<void>((r) => services.listen(0, '127.0.0.1', r));
  const servicesUrl = `http://127.0.0.1:${(services.address() as AddressInfo).port}`;
  try {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query('DROP DATABASE IF EXISTS bench_promotions WITH (FORCE)');
    await admin.query('CREATE DATABASE bench_promotions');
    await admin.end();
    const u = new URL(adminUrl);
    u.pathname = '/bench_promotions';
    const url = u.toString();
    await migrate(url);
    const db = createPool(url, 30);
    const token = (await bootstrap(db)).token!;
    const signer = ephemeralSigner();
    const gates = builtinGates();
    // The stand-ins listen on loopback, which the outbound door refuses unless allowed.
    const outbound = new Outbound({ allow: ['127.0.0.0/8'] });
    const registry = buildRegistry({ db, clock: systemClock, signer, gates, outbound });
    const app = await buildApp({ db, logger: false, signer, gates, registry, outbound });
    const engine = new Engine({ db, connectionString: url, registry, logger: createLogger('warn'), concurrency: 20 });
    await engine.start();
    // any: the bench reads JSON responses loosely
    const call = async (method: string, p: string, body?: unknown): Promise<any> => {
      const res = await app.inject({
        method: method as 'GET',
        url: p,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { payload: JSON.stringify(body) } : {}),
      });
      if (res.statusCode >= 300) throw new Error(`${method} ${p}: ${res.statusCode} ${res.body}`);
      return JSON.parse(res.body);
    };
    await call('POST', '/api/v1/integrations', {
      name: 'opa',
      typeId: 'policy_webhook',
      config: { url: `${servicesUrl}/v1/data/gantry/allow` },
    });
    await call('POST', '/api/v1/integrations', { name: 'scanner', typeId: 'scanner_webhook', config: { url: servicesUrl } });
    await call('POST', '/api/v1/workflow-templates', {
      name: 'decide-only',
      inputs: {
        promotionId: { type: 'string', required: true },
        releaseId: { type: 'string', required: true },
        environmentId: { type: 'string', required: true },
      },
      nodes: [
        { id: 'evaluate_gates', type: 'promotion_gates', config: { promotionId: '${{ inputs.promotionId }}' } },
        { id: 'wait_for_approvals', type: 'promotion_approval', config: { promotionId: '${{ inputs.promotionId }}' } },
      ],
      edges: [{ from: 'evaluate_gates', to: 'wait_for_approvals' }],
    });
    const gateList = [
      'environment_order',
      'release_status',
      'approvals',
      'separation_of_duties',
      'freeze_window',
      { id: 'policy', config: { expression: 'release.components.all(c, c.digest.startsWith("sha256:"))' } },
      { id: 'security_verdict', config: { integration: 'scanner' } },
      { id: 'webhook', config: { integration: 'opa' } },
    ];
    const freezeWindows = [
      { kind: 'recurring', name: 'weekend', rrule: 'FREQ=WEEKLY;BYDAY=SA', timezone: 'Europe/Berlin', durationMinutes: 1 },
    ];
    const env = await call('POST', '/api/v1/environments', {
      name: 'prod',
      freezeWindows,
      config: { promotionTemplate: 'decide-only', gates: gateList },
    });
    // The same gates, one approval required: the promotion waits for it, and the approval decides it.
    const approvalEnv = await call('POST', '/api/v1/environments', {
      name: 'prod-approved',
      requiredApprovals: 1,
      freezeWindows,
      config: { promotionTemplate: 'decide-only', gates: gateList, requirePreviousEnvironment: false },
    });
    const tenantId = (await call('GET', '/api/v1/whoami')).tenant.id;
    const comp = await db.query<{ id: string }>(
      `INSERT INTO components (tenant_id, name, image_repository) VALUES ($1, 'api', 'r/api') RETURNING id`,
      [tenantId],
    );
    const readyReleases = async (prefix: string): Promise<string[]> => {
      const releases: string[] = [];
      for (let i = 0; i < N; i++) {
        const digest = `sha256:${randomBytes(32).toString('hex')}`;
        const components = [
          {
            componentId: comp.rows[0]!.id,
            component: 'api',
            imageRepository: 'r/api',
            selector: { by: 'digest', value: digest },
            tag: null,
            semver: null,
            channel: null,
            digest,
          },
        ];
        const r = await db.query<{ id: string }>(`INSERT INTO releases (tenant_id, name, components) VALUES ($1, $2, $3) RETURNING id`, [
          tenantId,
          `${prefix}-${i}`,
          JSON.stringify(components),
        ]);
        await db.query(`UPDATE releases SET status = 'ready' WHERE id = $1`, [r.rows[0]!.id]);
        releases.push(r.rows[0]!.id);
      }
      return releases;
    };
    const waitUntil = async (ids: string[], statuses: string[]) => {
      for (;;) {
        const r = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM promotions WHERE id = ANY($1::uuid[]) AND status = ANY($2)`,
          [ids, statuses],
        );
        if (r.rows[0]!.n === ids.length) return;
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    // Latency on the database clock: from the request's (or approval's) transaction start to the packet.
    const decisionLatency = async (ids: string[], from: 'request' | 'approval') => {
      const start = from === 'request' ? 'p.requested_at' : '(SELECT max(a.approved_at) FROM approvals a WHERE a.promotion_id = p.id)';
      const r = await db.query<{ ms: number; outcome: string }>(
        `SELECT extract(epoch FROM e.created_at - ${start}) * 1000 AS ms, p.status AS outcome
           FROM promotions p JOIN evidence_packets e ON e.promotion_id = p.id AND e.packet_type = 'release_decision' WHERE p.id = ANY($1::uuid[])`,
        [ids],
      );
      if (r.rows.length !== ids.length || r.rows.some((x) => x.outcome !== 'approved'))
        throw new Error('a promotion was not approved; check the gates');
      return r.rows.map((x) => Number(x.ms));
    };
    // The client's view as well: each request's time from sending to the committed answer.
    const timed = async <T>(f: () => Promise<T>, into: number[]): Promise<T> => {
      const t = performance.now();
      const out = await f();
      into.push(performance.now() - t);
      return out;
    };

    const latencies: number[] = [];
    const requestMs: number[] = [];
    let decideSeconds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const releases = await readyReleases(`r${round}`);
      const t = performance.now();
      const ids = await Promise.all(
        releases.map((id) =>
          timed(() => call('POST', '/api/v1/promotions', { releaseId: id, targetEnvironmentId: env.id }), requestMs).then(
            (p) => p.id as string,
          ),
        ),
      );
      await waitUntil(ids, ['approved', 'rejected']);
      decideSeconds += (performance.now() - t) / 1000;
      latencies.push(...(await decisionLatency(ids, 'request')));
    }

    const approvalLatencies: number[] = [];
    const approveMs: number[] = [];
    let approveSeconds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const releases = await readyReleases(`a${round}`);
      const ids = await Promise.all(
        releases.map((id) =>
          call('POST', '/api/v1/promotions', { releaseId: id, targetEnvironmentId: approvalEnv.id }).then((p) => p.id as string),
        ),
      );
      await waitUntil(ids, ['awaiting_approval']);
      const t = performance.now();
      await Promise.all(ids.map((id) => timed(() => call('POST', `/api/v1/promotions/${id}/approve`, { comment: 'ok' }), approveMs)));
      await waitUntil(ids, ['approved', 'rejected']);
      approveSeconds += (performance.now() - t) / 1000;
      approvalLatencies.push(...(await decisionLatency(ids, 'approval')));
    }
    await engine.stop();
    await app.close();
    await db.end();

    const row = (what: string, l: number[], client: number[], seconds: number) => {
      const s = [...l].sort((a, b) => a - b);
      const c = [...client].sort((a, b) => a - b);
      const line = `| ${what} | ${l.length} | ${pct(s, 50).toFixed(0)} | ${pct(s, 99).toFixed(0)} | ${s[s.length - 1]!.toFixed(0)} | ${(l.length / seconds).toFixed(0)} | ${pct(c, 50).toFixed(0)} / ${pct(c, 99).toFixed(0)} |`;
      return { p99: pct(s, 99), rate: l.length / seconds, line };
    };
    const requested = row('request → decision', latencies, requestMs, decideSeconds);
    const approved = row('approval → decision (1 approval pending)', approvalLatencies, approveMs, approveSeconds);
    console.log(
      `\nPromotion decision latency: ${N} concurrent promotions × ${ROUNDS} rounds, 8 gates each (incl. scanner and OPA stand-ins), signed release_decision packet; load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
    console.log('| measured | decisions | p50 ms | p99 ms | max ms | decisions/s | HTTP answer p50 / p99 ms |');
    console.log('|---|---|---|---|---|---|---|');
    console.log(requested.line);
    console.log(approved.line);
    const shape = `${N} at once × ${ROUNDS}, 8 gates`;
    goal({
      bench: 'promotions',
      goal: `promotion decision p99, request → signed decision (${shape})`,
      figure: `${requested.p99.toFixed(1)} ms`,
      reference: '≤ 25 ms',
      pass: requested.p99 <= 25,
    });
    goal({
      bench: 'promotions',
      goal: `promotion decisions per second (${shape})`,
      figure: `${requested.rate.toFixed(0)}/s`,
      reference: '≥ 500/s',
      pass: requested.rate >= 500,
    });
    goal({
      bench: 'promotions',
      goal: `approval → decision p99, one approval pending (${shape})`,
      figure: `${approved.p99.toFixed(1)} ms`,
      reference: '≤ 25 ms',
      pass: approved.p99 <= 25,
    });
  } finally {
    services.close();
    await stop?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

await main();
