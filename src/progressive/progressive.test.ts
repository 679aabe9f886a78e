// Progressive rollouts over HTTP on real PostgreSQL: a scripted agent (the agent protocol, action
// "route") applies the traffic changes, and a fake Prometheus (a Node HTTP server answering the query
// API with values the test sets: the real one runs in test/e2e/progressive-canary.test.ts) feeds the
// analysis. The ticker is driven by hand. Checked: a canary advances stage by stage on passing analyses
// and promotes; a failing analysis rolls back with its query, value and threshold in the signed packet;
// an A/B release waits for approval at each stage; only one change of a rollout is leased at a time;
// operators' decisions are refused on an ended rollout and to viewers; every stage change has a packet.
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, runGantry } from '../../test/e2e/support.js';
import { loopbackOutbound } from '../../test/helpers.js';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { type ScriptedAgent, scriptedAgent } from '../../test/scripted-agent.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/logger.js';
import { ephemeralSigner } from '../evidence/signer.js';
import { routeOf } from './service.js';
import { RolloutTicker } from './ticker.js';

let f: PromotionFixture;
let agent: ScriptedAgent;
let ticker: RolloutTicker;
let prom: http.Server;
let promUrl = '';
let base = '';
/** The error rate the fake Prometheus answers, per variation. */
const errorRate: Record<string, number | null> = { a: 0, b: 0 };
const queries: string[] = [];

// any: tests read arbitrary JSON response shapes
const get = async (path: string): Promise<any> => {
  const r = await f.call('admin', 'GET', path);
  expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
};

/** The agent applies whatever change is pending and reports the split as the router serves it. */
async function applyPending(): Promise<number> {
  const changes = await agent.leaseTraffic();
  for (const c of changes) {
    const distribution = Object.fromEntries(c.split.variations.map((v) => [v.name, v.weight]));
    expect(await agent.reportTraffic(c, { status: 'applied', distribution })).toBe(200);
  }
  return changes.length;
}

async function settle(id: string): Promise<any> {
  for (let i = 0; i < 6; i++) {
    await applyPending();
    await ticker.step(id, f.tenantId);
  }
  return get(`/api/v1/rollouts/${id}`);
}

function spec(name: string, kind: 'ab' | 'canary', extra: Record<string, unknown> = {}) {
  return {
    name,
    kind,
    environment: 'prod',
    routerTarget: 'edge-1',
    router: { type: 'nginx', path: '/etc/nginx/gantry/checkout.split.json' },
    variations: [
      { name: 'a', release: 'r1', servers: [{ host: '10.0.0.1', port: 8080 }] },
      { name: 'b', release: 'r2', servers: [{ host: '10.0.0.2', port: 8080 }] },
    ],
    ...extra,
  };
}

const analysis = () => ({
  source: { type: 'prometheus', url: promUrl },
  window: '1m',
  metrics: [
    {
      name: 'error-rate',
      query:
        'sum(rate(http_requests_total{variation="${variation}",code=~"5.."}[${window}])) / sum(rate(http_requests_total{variation="${variation}"}[${window}]))',
      max: 0.01,
    },
  ],
});

beforeAll(async () => {
  f = await promotionFixture({ rita: ['release_manager'], vic: ['viewer'] });
  const addr = await f.app.listen({ port: 0, host: '127.0.0.1' });
  base = addr;
  const env = await f.call('admin', 'POST', '/api/v1/environments', { name: 'prod' });
  expect(env.status).toBe(201);
  const t = await f.call('admin', 'POST', '/api/v1/targets', {
    name: 'edge-1',
    environmentId: env.body.id,
    targetType: 'docker_host',
    connection: { dockerHost: 'unix:///x.sock' },
  });
  expect(t.status, JSON.stringify(t.body)).toBe(201);
  await f.readyRelease('r1', 'rita');
  await f.readyRelease('r2', 'rita');
  agent = await scriptedAgent(addr, f.tokens.admin!, 'edge-agent', ['deploy', 'remove', 'route']);
  prom = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    queries.push(q);
    const variation = /variation="([a-z]+)"/.exec(q)?.[1] ?? 'a';
    const v = errorRate[variation];
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        status: 'success',
        data: {
          resultType: 'vector',
          result: v === null || v === undefined ? [] : [{ metric: {}, value: [Date.now() / 1000, String(v)] }],
        },
      }),
    );
  });
  await new Promise<void>((r) => prom.listen(0, '127.0.0.1', r));
  promUrl = `http://127.0.0.1:${(prom.address() as AddressInfo).port}`;
  ticker = new RolloutTicker({
    db: f.db,
    deps: { signer: ephemeralSigner(), clock: systemClock, outbound: loopbackOutbound() },
    logger: createLogger('silent'),
  });
});

afterAll(async () => {
  prom?.close();
});

describe('progressive rollouts', () => {
  it('a healthy canary advances 5 → 25 → 50 → 100 on passing analyses, then promotes and retires the stable variation', async () => {
    errorRate.b = 0;
    const stages = [5, 25, 50, 100].map((weight) => ({ weight, holdSeconds: 0 }));
    const c = await f.call(
      'rita',
      'POST',
      '/api/v1/rollouts',
      spec('checkout', 'canary', { stages, analysis: analysis(), reason: 'new checkout' }),
    );
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.status).toBe('running');
    expect(c.body.weight).toBe(5);
    expect(c.body.traffic.status).toBe('pending');
    const id = c.body.id as string;

    const done = await settle(id);
    expect(done.status).toBe('promoted');
    expect(done.steps.map((s: { action: string }) => s.action)).toEqual(['start', 'advance', 'advance', 'advance', 'promote', 'applied']);
    expect(done.steps.filter((s: { analysis: unknown }) => s.analysis).length).toBe(4);
    expect(done.variations.map((v: { name: string; weight: number }) => [v.name, v.weight])).toEqual([
      ['a', 0],
      ['b', 100],
    ]);
    expect(done.traffic.split.variations).toEqual([{ name: 'b', servers: [{ host: '10.0.0.2', port: 8080 }], weight: 100 }]);
    expect(queries.some((q) => q.includes('variation="b"') && q.includes('[1m]'))).toBe(true);

    const packets = await get('/api/v1/evidence?type=ab_promotion&limit=50');
    const mine = packets.items.filter((p: any) => p.content.rollout.id === id);
    expect(mine.map((p: any) => p.content.action).sort()).toEqual(['advance', 'advance', 'advance', 'promote', 'start']);
    const promote = mine.find((p: any) => p.content.action === 'promote');
    expect(promote.content.actor).toEqual({ system: 'analysis' });
    expect(promote.content.analysis.verdict).toBe('pass');
    expect(promote.content.variations.map((v: any) => v.release.name)).toEqual(['r1', 'r2']);
    expect(promote.content.variations[1].release.components[0].digest).toMatch(/^sha256:/);
  });

  it('a canary whose candidate errs is rolled back at its first analysis, with the query, value and threshold in the evidence', async () => {
    errorRate.b = 0.05;
    const stages = [5, 25, 50, 100].map((weight) => ({ weight, holdSeconds: 0 }));
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('checkout', 'canary', { stages, analysis: analysis() }));
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id = c.body.id as string;
    const done = await settle(id);
    expect(done.status).toBe('rolled_back');
    expect(done.steps.map((s: { action: string }) => s.action)).toEqual(['start', 'rollback', 'applied']);
    expect(done.statusReason).toMatch(/analysis of stage 1 \(5%\) failed: error-rate = 0\.05/);
    expect(done.traffic.split.variations).toEqual([{ name: 'a', servers: [{ host: '10.0.0.1', port: 8080 }], weight: 100 }]);

    const packets = await get('/api/v1/evidence?type=ab_promotion&limit=50');
    const rollback = packets.items.find((p: any) => p.content.rollout.id === id && p.content.action === 'rollback');
    expect(rollback.content.actor).toEqual({ system: 'analysis' });
    const m = rollback.content.analysis.metrics[0];
    expect(m.verdict).toBe('fail');
    expect(m.value).toBe(0.05);
    expect(m.query).toContain('variation="b"');
    expect(m.query).not.toContain('${');
    expect(m.threshold).toContain('0.01');
  });

  it('an A/B release waits for approval at each stage; operators advance, promote, or roll back', async () => {
    const stages = [
      { weight: 10, holdSeconds: 0, approval: true },
      { weight: 50, holdSeconds: 0, approval: true },
      { weight: 100, holdSeconds: 0, approval: true },
    ];
    const c = await f.call(
      'rita',
      'POST',
      '/api/v1/rollouts',
      spec('banner', 'ab', { stages, header: { name: 'X-Variation', value: 'b', variation: 'b' }, sticky: { cookie: 'gv' } }),
    );
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id = c.body.id as string;
    // a second running rollout of the same name is refused
    const dup = await f.call('rita', 'POST', '/api/v1/rollouts', spec('banner', 'ab', { stages }));
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('rollout_exists');

    let r = await settle(id);
    expect(r.status).toBe('awaiting_approval');
    expect(r.traffic.split).toMatchObject({ header: { name: 'X-Variation', value: 'b', variation: 'b' }, sticky: { cookie: 'gv' } });
    expect((await f.call('vic', 'POST', `/api/v1/rollouts/${id}/advance`, { reason: 'x' })).status).toBe(403);
    const adv = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/advance`, { reason: 'looks good' });
    expect(adv.status, JSON.stringify(adv.body)).toBe(200);
    expect(adv.body.weight).toBe(50);
    r = await settle(id);
    expect(r.status).toBe('awaiting_approval');
    expect(r.weight).toBe(50);
    const back = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/rollback`, { reason: 'conversion dropped' });
    expect(back.status).toBe(200);
    r = await settle(id);
    expect(r.status).toBe('rolled_back');
    const ended = await f.call('rita', 'POST', `/api/v1/rollouts/${id}/promote`, {});
    expect(ended.status).toBe(409);
    expect(ended.body.code).toBe('rollout_ended');
    const packets = await get('/api/v1/evidence?type=ab_promotion&limit=50');
    const mine = packets.items.filter((p: any) => p.content.rollout.id === id);
    expect(mine.map((p: any) => [p.content.action, p.content.actor.username ?? p.content.actor.system]).sort()).toEqual([
      ['advance', 'rita'],
      ['rollback', 'rita'],
      ['start', 'rita'],
    ]);
    expect(mine.find((p: any) => p.content.action === 'rollback').content.reason).toBe('conversion dropped');
  });

  it('leases one change of a rollout at a time, and a change the router refused pauses the rollout', async () => {
    const stages = [
      { weight: 20, holdSeconds: 0, approval: true },
      { weight: 100, holdSeconds: 0 },
    ];
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('pause-me', 'ab', { stages }));
    const id = c.body.id as string;
    const [first] = await agent.leaseTraffic();
    expect(first?.rolloutId).toBe(id);
    expect(first?.mode).toBe('configure');
    expect(await agent.leaseTraffic()).toEqual([]); // nothing else pending
    expect(await agent.reportTraffic(first!, { status: 'failed', error: 'haproxy runtime API: no such server' })).toBe(200);
    await ticker.step(id, f.tenantId);
    const r = await get(`/api/v1/rollouts/${id}`);
    expect(r.status).toBe('paused');
    expect(r.statusReason).toMatch(/the router did not apply stage 1: haproxy runtime API: no such server/);
    await f.call('rita', 'POST', `/api/v1/rollouts/${id}/abort`, { reason: 'router broken' });
    expect((await settle(id)).status).toBe('aborted');
  });

  it('derives a valid route from a rollout name that is not one', async () => {
    expect(routeOf('checkout.v2_canary')).toBe('checkout-v2-canary');
    expect(routeOf('2024-web')).toBe('web');
    expect(routeOf('9')).toBe('route');
    expect(routeOf(`a${'b'.repeat(60)}`)).toHaveLength(40);
    const c = await f.call('rita', 'POST', '/api/v1/rollouts', spec('shop.v2_ab', 'ab', { stages: [{ weight: 10, approval: true }] }));
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.router.route).toBe('shop-v2-ab');
    const [change] = await agent.leaseTraffic(); // the lease answer validates the router config it carries
    expect(change?.router.route).toBe('shop-v2-ab');
    await agent.reportTraffic(change!, { status: 'applied', distribution: { a: 90, b: 10 } });
    await f.call('rita', 'POST', `/api/v1/rollouts/${c.body.id}/abort`, { reason: 'test done' });
    await settle(c.body.id);
  });

  it('refuses specs that cannot work, saying why', async () => {
    const noAnalysis = await f.call('rita', 'POST', '/api/v1/rollouts', spec('x', 'canary'));
    expect(noAnalysis.status).toBe(400);
    expect(noAnalysis.body.detail).toMatch(/A canary is judged by its analysis/);
    const backwards = await f.call('rita', 'POST', '/api/v1/rollouts', spec('x', 'ab', { stages: [{ weight: 50 }, { weight: 10 }] }));
    expect(backwards.status).toBe(400);
    expect(backwards.body.detail).toMatch(/stages only move forward/);
    const noRelease = await f.call('rita', 'POST', '/api/v1/rollouts', {
      ...spec('x', 'ab'),
      variations: [
        { name: 'a', release: 'r1', servers: [{ host: '10.0.0.1', port: 80 }] },
        { name: 'b', release: 'nope', servers: [{ host: '10.0.0.2', port: 80 }] },
      ],
    });
    expect(noRelease.status).toBe(404);
  });

  it('the CLI starts an A/B release from a YAML spec, shows it, advances and rolls it back', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-rollout-cli-'));
    const file = path.join(dir, 'ab.yaml');
    await writeFile(
      file,
      [
        'name: cli-ab',
        'kind: ab',
        'environment: prod',
        'routerTarget: edge-1',
        'router: { type: haproxy, path: /etc/haproxy/gantry-web.cfg, socket: /run/haproxy/admin.sock }',
        'variations:',
        '  - { name: a, release: r1, servers: [{ host: 10.0.0.1, port: 8080 }] }',
        '  - { name: b, release: r2, servers: [{ host: 10.0.0.2, port: 8080 }] }',
        'stages:',
        '  - { weight: 10, holdSeconds: 0, approval: true }',
        '  - { weight: 100, holdSeconds: 0, approval: true }',
        'reason: from the CLI',
        '',
      ].join('\n'),
    );
    const env = childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: f.tokens.rita! });
    const started = await runGantry(['rollout', 'start', '-f', file, '--json'], env);
    expect(started.code, started.stderr).toBe(0);
    const id = JSON.parse(started.stdout).id as string;
    await settle(id);
    const shown = await runGantry(['rollout', 'show', 'cli-ab'], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/status\s+awaiting_approval: stage 1 \(10%\) held 0 s/);
    expect(shown.stdout).toMatch(/split\s+a \(r1\) 90% \/ b \(r2\) 10%/);
    expect(shown.stdout).toMatch(/router_reports\s+applied: a 90%, b 10%/);
    const adv = await runGantry(['rollout', 'advance', 'cli-ab', '--reason', 'looks good', '--json'], env);
    expect(adv.code, adv.stderr).toBe(0);
    expect(JSON.parse(adv.stdout).weight).toBe(100);
    const list = await runGantry(['rollout', 'list', '--status', 'running', '--json'], env);
    expect(JSON.parse(list.stdout).map((r: { name: string }) => r.name)).toContain('cli-ab');
    const back = await runGantry(['rollout', 'rollback', 'cli-ab', '--reason', 'revenue dropped'], env);
    expect(back.code, back.stderr).toBe(0);
    await settle(id);
    const ended = await runGantry(['rollout', 'show', id, '--watch'], env);
    expect(ended.code).toBe(1); // a watch that ends rolled back exits 1
    expect(ended.stdout).toMatch(/status\s+rolled_back/);
    const none = await runGantry(['rollout', 'show', 'no-such-rollout'], env);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/no rollout named "no-such-rollout"/);
    const bad = await runGantry(['rollout', 'start', '-f', path.join(dir, 'missing.yaml')], env);
    expect(bad.code).toBe(2);
  });
});
