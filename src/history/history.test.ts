// History over HTTP on real PostgreSQL with a scripted agent speaking the agent protocol: a scripted
// sequence — a promotion approved by another person, a direct deployment, a rollback, a drift episode, a
// second promotion — and then "what ran on target X at time T" for eleven chosen instants, each with its
// release, job, promotion, approvers and evidence packets (verified against the chain), the timeline with
// its drift period, and every interval of a digest; the CLI answers the same.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, runGantry } from '../../test/e2e/support.js';
import { type PromotionFixture, promotionFixture } from '../../test/promotion-fixture.js';
import { type ScriptedAgent, scriptedAgent } from '../../test/scripted-agent.js';

let f: PromotionFixture;
let base: string;
let agent: ScriptedAgent;
let loop: { stop(): Promise<void> };
const ids: Record<string, string> = {};

// any: tests read arbitrary JSON response shapes
const get = async (who: string, path: string): Promise<any> => {
  const r = await f.call(who, 'GET', path);
  expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
};
const tick = () => new Promise((r) => setTimeout(r, 30));
const instant = async () => {
  await tick();
  const t = new Date().toISOString();
  await tick();
  return t;
};

async function waitJob(id: string) {
  for (let i = 0; i < 400; i++) {
    const j = await get('admin', `/api/v1/deployments/${id}`);
    if (j.status === 'succeeded') return j;
    if (['failed', 'cancelled'].includes(j.status)) throw new Error(`job ${id} ${j.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} did not end`);
}

async function promoteAndDeploy(release: string): Promise<{ promotion: string; job: string }> {
  const p = await f.call('rita', 'POST', '/api/v1/promotions', {
    releaseId: release,
    targetEnvironmentId: 'prod',
    reason: `ship ${release}`,
  });
  expect(p.status, JSON.stringify(p.body)).toBe(201);
  await f.waitFor(p.body.id, ['awaiting_approval']);
  expect((await f.call('bob', 'POST', `/api/v1/promotions/${p.body.id}/approve`, { comment: 'fine' })).status).toBe(200);
  const done = await f.waitFor(p.body.id, ['deployed']);
  return { promotion: p.body.id, job: done.deploymentJobIds[0] };
}

/** The drift observation of web-1 running `digest` for its api container (null: as recorded, with its sticker). */
async function observe(targetId: string, digest: string | null) {
  const t = await f.db.query<{ current_components: { name: string; image: string; digest: string }[] }>(
    'SELECT current_components FROM targets WHERE id = $1',
    [targetId],
  );
  const s = await f.db.query<{ sticker_content: Record<string, unknown>; content_hash: string }>(
    'SELECT sticker_content, content_hash FROM version_stickers WHERE target_id = $1 ORDER BY written_at DESC, id DESC LIMIT 1',
    [targetId],
  );
  const c = t.rows[0]!.current_components[0]!;
  const res = await fetch(`${base}/api/v1/agents/${agent.id}/observations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.credential}` },
    body: JSON.stringify({
      observations: [
        {
          targetId,
          components: [
            {
              component: c.name,
              containerName: `gantry-web-1-${c.name}`,
              containerId: 'c0ffee',
              image: c.image,
              digest: digest ?? c.digest,
              running: true,
            },
          ],
          sticker: { content: s.rows[0]!.sticker_content, contentHash: s.rows[0]!.content_hash },
        },
      ],
    }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { drifted: number };
}

beforeAll(async () => {
  f = await promotionFixture({ rita: ['release_manager'], bob: ['approver'] });
  await f.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  const env = await f.call('admin', 'POST', '/api/v1/environments', { name: 'prod', requiredApprovals: 1 });
  expect(env.status).toBe(201);
  for (const name of ['web-1', 'web-2']) {
    const t = await f.call('admin', 'POST', '/api/v1/targets', {
      name,
      environmentId: env.body.id,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///x.sock' },
    });
    ids[name] = t.body.id;
  }
  agent = await scriptedAgent(base, f.tokens.admin!, 'edge-1');
  loop = agent.run(30);
});
afterAll(async () => {
  await loop?.stop();
  await f?.app.close();
});

describe('history', () => {
  it('answers what ran on a target at eleven instants, with who decided it and verified evidence, and where a digest ran', async () => {
    const digestOf: Record<string, string> = {};
    for (const r of ['1.0.0', '1.1.0', '1.2.0']) {
      await f.readyRelease(r, 'rita');
      digestOf[r] = (await get('admin', `/api/v1/releases/${r}`)).components[0].digest;
    }
    const t0 = await instant(); // nothing yet
    const first = await promoteAndDeploy('1.0.0');
    const t1 = await instant();
    const direct = await f.call('admin', 'POST', '/api/v1/deployments', { releaseId: '1.1.0', environmentId: 'prod' });
    expect(direct.status).toBe(201);
    await waitJob(direct.body.id);
    const t2 = await instant();
    // The rollback's plan first (a dry run starts nothing): both targets go back from 1.1.0 to 1.0.0.
    const jobsBefore = (await get('admin', '/api/v1/deployments')).items.length;
    const planned = await f.call('bob', 'POST', `/api/v1/deployments/${direct.body.id}/rollback/plan`);
    expect(planned.status, JSON.stringify(planned.body)).toBe(200);
    const rbPlan = planned.body;
    expect(
      rbPlan.targets.map((t: { name: string; components: { action: string; fromDigest: string; toDigest: string }[] }) => [
        t.name,
        t.components.map((c) => [c.action, c.fromDigest, c.toDigest]),
      ]),
    ).toEqual(['web-1', 'web-2'].map((n) => [n, [['recreate', digestOf['1.1.0'], digestOf['1.0.0']]]]));
    expect((await get('admin', '/api/v1/deployments')).items.length).toBe(jobsBefore);
    const rb = await f.call('admin', 'POST', `/api/v1/deployments/${direct.body.id}/rollback`);
    expect(rb.status, JSON.stringify(rb.body)).toBe(201);
    await waitJob(rb.body.id);
    const t3 = await instant();
    // Drift: someone runs another image as web-1's api container; later it is back as recorded.
    const rogue = `sha256:${'e'.repeat(64)}`;
    expect((await observe(ids['web-1']!, rogue)).drifted).toBe(1);
    const t4 = await instant();
    expect((await observe(ids['web-1']!, null)).drifted).toBe(0);
    const t5 = await instant();
    const second = await promoteAndDeploy('1.2.0');
    const t6 = await instant();

    type Want = {
      release: string | null;
      job?: string;
      promotion?: string | null;
      approvedBy?: string[];
      rollback?: boolean;
      drift?: boolean;
    };
    const cases: [string, string, Want][] = [
      ['web-1', t0, { release: null }],
      ['web-1', t1, { release: '1.0.0', job: first.job, promotion: first.promotion, approvedBy: ['bob'] }],
      ['web-2', t1, { release: '1.0.0', job: first.job, promotion: first.promotion, approvedBy: ['bob'] }],
      ['web-1', t2, { release: '1.1.0', job: direct.body.id, promotion: null }],
      ['web-2', t2, { release: '1.1.0', job: direct.body.id, promotion: null }],
      ['web-1', t3, { release: '1.0.0', job: rb.body.id, promotion: null, rollback: true }],
      ['web-2', t3, { release: '1.0.0', job: rb.body.id, promotion: null, rollback: true }],
      ['web-1', t4, { release: '1.0.0', job: rb.body.id, promotion: null, rollback: true, drift: true }],
      ['web-2', t4, { release: '1.0.0', job: rb.body.id, promotion: null, rollback: true, drift: false }],
      ['web-1', t5, { release: '1.0.0', job: rb.body.id, promotion: null, rollback: true, drift: false }],
      ['web-1', t6, { release: '1.2.0', job: second.job, promotion: second.promotion, approvedBy: ['bob'] }],
    ];
    for (const [target, at, want] of cases) {
      const a = await get('admin', `/api/v1/targets/${target}/at?time=${encodeURIComponent(at)}`);
      const label = `${target} at ${at}`;
      if (want.release === null) {
        expect(a.ran, label).toBeNull();
        expect(a.why, label).toMatch(/nothing Gantry deployed ran there yet/);
        continue;
      }
      expect(a.ran.release.name, label).toBe(want.release);
      expect(
        a.ran.components.map((c: { digest: string }) => c.digest),
        label,
      ).toEqual([digestOf[want.release]]);
      expect(a.job.id, label).toBe(want.job);
      expect(Boolean(a.job.rollbackOf), label).toBe(Boolean(want.rollback));
      expect(a.promotion?.id ?? null, label).toBe(want.promotion);
      if (want.approvedBy) {
        expect(a.promotion.requestedBy, label).toBe('rita');
        expect(a.promotion.approvals.filter((x: { counted: boolean }) => x.counted).map((x: { username: string }) => x.username)).toEqual(
          want.approvedBy,
        );
        expect(
          a.promotion.gates.map((g: { gate: string }) => g.gate),
          label,
        ).toContain('approvals');
      }
      if (want.drift !== undefined) expect(Boolean(a.drift), label).toBe(want.drift);
      if (want.drift) expect(a.drift.items[0], label).toMatchObject({ component: 'api', field: 'digest', actual: rogue });
      // The evidence: the job's deployment (or rollback) packet, and for a promotion its decision; verified.
      const types = a.evidence.map((e: { type: string }) => e.type).sort();
      expect(types, label).toEqual(want.promotion ? ['deployment', 'release_decision'] : [want.rollback ? 'rollback' : 'deployment']);
      const packet = await get('admin', `/api/v1/evidence/${a.evidence.find((e: { type: string }) => e.type !== 'release_decision').id}`);
      expect((packet.content.job as { id: string }).id, label).toBe(want.job);
      expect(a.verification, label).toEqual({ ok: true, failures: [] });
    }

    const timeline = await get('admin', '/api/v1/targets/web-1/timeline');
    expect(timeline.intervals.map((i: { release: { name: string } }) => i.release.name)).toEqual(['1.2.0', '1.0.0', '1.1.0', '1.0.0']);
    expect(timeline.drift).toHaveLength(1);
    expect(Date.parse(timeline.drift[0].from)).toBeLessThan(Date.parse(t4));
    expect(Date.parse(timeline.drift[0].to)).toBeLessThan(Date.parse(t5));

    // 1.0.0's digest ran twice on each target: from the promotion to the direct deployment, and from the rollback to 1.2.0.
    const d = await get('admin', `/api/v1/digests/${digestOf['1.0.0']}/history`);
    const runs = d.intervals.map((i: { target: { name: string }; from: string; to: string | null }) => [
      i.target.name,
      i.from < t1,
      i.to !== null,
    ]);
    expect(runs.sort()).toEqual([
      ['web-1', false, true],
      ['web-1', true, true],
      ['web-2', false, true],
      ['web-2', true, true],
    ]);
    for (const i of d.intervals) {
      expect(i.releases).toEqual(['1.0.0']);
      expect(Date.parse(i.to)).toBeGreaterThan(Date.parse(i.from));
    }
    expect((await f.call('admin', 'GET', `/api/v1/digests/sha256:${'0'.repeat(64)}/history`)).status).toBe(404);
    expect((await f.call('admin', 'GET', '/api/v1/digests/latest/history')).status).toBe(400);

    // The CLI gives the same answers.
    const env = childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: f.tokens.admin! });
    const at = await runGantry(['history', 'target', 'web-1', '--at', t4, '--json'], env);
    expect(at.code, at.stderr).toBe(0);
    const parsed = JSON.parse(at.stdout);
    expect([parsed.ran.release.name, parsed.job.id, Boolean(parsed.drift), parsed.verification.ok]).toEqual([
      '1.0.0',
      rb.body.id,
      true,
      true,
    ]);
    const text = await runGantry(['history', 'target', 'web-1', '--at', t1], env);
    expect(text.stdout).toMatch(/approvedBy\s+bob/);
    expect(text.stdout).toMatch(/verified\s+yes/);
    const dig = await runGantry(['history', 'digest', digestOf['1.0.0']!, '--json'], env);
    expect(JSON.parse(dig.stdout).intervals).toHaveLength(4);
  });
});
