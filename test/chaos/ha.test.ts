// HA chaos test: two `gantry server` replicas on one PostgreSQL 15 (the test's own) behind a TCP
// balancer, several `gantry agent run --noop` agents, promotions deploying into busy environments, while
// replicas and agents are SIGKILLed at random moments and PostgreSQL is restarted once with
// `pg_ctl restart -m immediate`. Then: no process exited by itself, every promotion and job is final, no
// task's effect ran twice (counted on the target side: the noop executor's journal), every decision has
// exactly one evidence packet, and the exported chain verifies offline.
//
// GANTRY_CHAOS_SEED replays a run (the seed is printed); GANTRY_CHAOS_SCALE=full runs the full version
// (docs/operations.md records its results), the default is the short one CI runs.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { api, childEnv, freePort, runGantry, waitReady } from '../e2e/support.js';
import { countEffects, prng, Supervised, startBalancer, type UnexpectedExit } from './ha-support.js';
import { type Pg15, pg15Available, startPg15 } from './pg15.js';

const SCALES = {
  ci: { promotions: 100, environments: 5, targetsPerEnv: 2, agents: 3, kills: 6, settleMs: 240_000 },
  full: { promotions: 120, environments: 4, targetsPerEnv: 3, agents: 4, kills: 12, settleMs: 420_000 },
} as const;
const scaleName = (process.env.GANTRY_CHAOS_SCALE ?? 'ci') as keyof typeof SCALES;
const S = SCALES[scaleName] ?? SCALES.ci;
const SEED = process.env.GANTRY_CHAOS_SEED ? Number(process.env.GANTRY_CHAOS_SEED) : randomBytes(4).readUInt32BE(0);
const T = S.settleMs + 300_000;
const FINAL_PROMOTION = ['deployed', 'rejected', 'cancelled', 'failed', 'rolled_back'];
const FINAL_JOB = ['succeeded', 'failed', 'cancelled'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pgc: Pg15 | undefined;
const procs: Supervised[] = [];
let closeBalancer: (() => void) | undefined;

describe.skipIf(!pg15Available())('HA under chaos', () => {
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.end()));
    closeBalancer?.();
    await pgc?.stop();
  }, 120_000);

  it(
    `${S.promotions} promotions through two replicas and ${S.agents} agents survive ${S.kills} SIGKILLs and a PostgreSQL restart (seed ${SEED}, scale ${scaleName})`,
    async () => {
      process.stderr.write(`chaos: seed ${SEED} (replay: GANTRY_CHAOS_SEED=${SEED} GANTRY_CHAOS_SCALE=${scaleName})\n`);
      const rnd = prng(SEED);
      const unexpected: UnexpectedExit[] = [];
      const work = await mkdtemp(path.join(os.tmpdir(), 'gantry-chaos-'));
      pgc = await startPg15();
      const admin = new pg.Client({ connectionString: pgc.url });
      await admin.connect();
      await admin.query('CREATE DATABASE gantry');
      await admin.end();
      const dbUrl = pgc.url.replace(/\/postgres$/, '/gantry');
      const sql = new pg.Pool({ connectionString: dbUrl, max: 2 });
      sql.on('error', () => {});

      // Replicas share the evidence signing key through GANTRY_EVIDENCE_KEY_FILE (docs/operations.md).
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const keyFile = path.join(work, 'evidence-key.pem');
      const pubFile = path.join(work, 'evidence-key.pub.pem');
      await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
      await writeFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const token = `gty_${randomBytes(32).toString('base64url')}`;
      const ports = [await freePort(), await freePort()];
      const replicas = ports.map(
        (port, i) =>
          new Supervised(
            `replica-${i + 1}`,
            () => ({
              args: ['server'],
              env: childEnv({
                DATABASE_URL: dbUrl,
                GANTRY_BOOTSTRAP_TOKEN: token,
                GANTRY_PORT: String(port),
                GANTRY_DATA_DIR: path.join(work, `replica-${i + 1}`),
                GANTRY_EVIDENCE_KEY_FILE: keyFile,
                GANTRY_ENGINE_LEASE_SECONDS: '5',
                GANTRY_TASK_LEASE_SECONDS: '8',
                GANTRY_AGENT_HEARTBEAT_SECONDS: '2',
                GANTRY_AGENT_POLL_SECONDS: '0.5',
                GANTRY_DEPLOY_SWEEP_SECONDS: '1',
              }),
            }),
            unexpected,
          ),
      );
      procs.push(...replicas);
      await Promise.all(replicas.map((r, i) => waitReady(r.start(), `http://127.0.0.1:${ports[i]}`)));
      const lb = await startBalancer(ports);
      closeBalancer = lb.close;
      const base = `http://127.0.0.1:${lb.port}`;

      // API calls go through the balancer and retry while a replica is down or PostgreSQL restarts.
      const call = async (method: string, url: string, body?: unknown) => {
        for (let i = 0; ; i++) {
          try {
            const r = await api(base, method, url, token, body);
            if (r.status < 500 || i >= 60) return r;
          } catch (err) {
            if (i >= 60) throw err;
          }
          await sleep(500);
        }
      };

      // Setup: environments with targets (no order between them), releases, agents.
      const envs: string[] = [];
      for (let e = 0; e < S.environments; e++) {
        const name = `env-${e + 1}`;
        const r = await call('POST', '/api/v1/environments', { name, config: { requirePreviousEnvironment: false } });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        envs.push(name);
        for (let t = 0; t < S.targetsPerEnv; t++) {
          const tr = await call('POST', '/api/v1/targets', {
            name: `${name}-t${t + 1}`,
            environmentId: r.body.id,
            targetType: 'docker_host',
            connection: { dockerHost: 'unix:///var/run/docker.sock' },
          });
          expect(tr.status, JSON.stringify(tr.body)).toBe(201);
        }
      }
      expect((await call('POST', '/api/v1/components', { name: 'app', imageRepository: 'registry.example.com/app' })).status).toBe(201);
      const releases = Array.from({ length: S.promotions }, (_, i) => `1.0.${i}`);
      for (let i = 0; i < releases.length; i += 10) {
        await Promise.all(
          releases.slice(i, i + 10).map(async (name) => {
            const r = await call('POST', '/api/v1/releases', {
              name,
              components: [{ component: 'app', digest: `sha256:${randomBytes(32).toString('hex')}` }],
            });
            expect(r.status, JSON.stringify(r.body)).toBe(201);
            expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
          }),
        );
      }
      const journal = path.join(work, 'effects.jsonl');
      await writeFile(journal, '');
      for (let a = 0; a < S.agents; a++) {
        const jt = await call('POST', '/api/v1/agents/tokens', {});
        expect(jt.status).toBe(201);
        const name = `agent-${a + 1}`;
        const agent = new Supervised(
          name,
          () => ({
            args: ['agent', 'run', '--server', base, '--name', name, '--noop', '--executor', 'docker_host', '--concurrency', '2'],
            env: childEnv({
              GANTRY_JOIN_TOKEN: jt.body.token,
              GANTRY_AGENT_DIR: path.join(work, name),
              GANTRY_NOOP_JOURNAL: journal,
              // The noop "hosts" are one world that every agent sees, as real hosts would be: a re-leased
              // task observes there what an earlier attempt (on any agent) already applied.
              GANTRY_AGENT_NOOP_DIR: path.join(work, 'noop-world'),
            }),
          }),
          unexpected,
        );
        procs.push(agent);
        agent.start();
      }
      const agents = procs.filter((p) => p.name.startsWith('agent-'));
      // Chaos starts once every agent has registered and is online (a first start is not under test).
      for (const started = Date.now(); ; ) {
        const r = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM agents WHERE status = 'online'`);
        if (r.rows[0]!.n === S.agents) break;
        if (Date.now() - started > 120_000) throw new Error(`agents not online: ${agents.map((a) => a.proc?.stderr()).join('\n')}`);
        await sleep(250);
      }

      // Promotions: submitted in waves between kills; a POST whose answer was lost is looked up
      // rather than sent twice (one promotion per release, each release into one environment).
      const promotionIds: string[] = [];
      const promote = async (i: number) => {
        const body = { releaseId: releases[i], targetEnvironmentId: envs[i % envs.length], reason: `chaos ${SEED}` };
        for (let attempt = 0; ; attempt++) {
          const r = await api(base, 'POST', '/api/v1/promotions', token, body).catch(() => undefined);
          if (r?.status === 201) return r.body.id as string;
          if (r && r.status < 500) throw new Error(`promotion of ${releases[i]} refused: ${r.status} ${JSON.stringify(r.body)}`);
          const found = await sql
            .query<{ id: string }>(`SELECT p.id FROM promotions p JOIN releases r ON r.id = p.release_id WHERE r.name = $1`, [releases[i]])
            .catch(() => ({ rows: [] as { id: string }[] }));
          if (found.rows[0]) return found.rows[0].id;
          if (attempt > 120) throw new Error(`promotion of ${releases[i]} could not be created`);
          await sleep(500);
        }
      };
      const waves = S.kills + 1;
      const perWave = Math.ceil(S.promotions / waves);
      let submitted = 0;
      const submitWave = async () => {
        const upto = Math.min(S.promotions, submitted + perWave);
        const batch: Promise<string>[] = [];
        for (; submitted < upto; submitted++) batch.push(promote(submitted));
        promotionIds.push(...(await Promise.all(batch)));
      };

      // Chaos: kill a random replica or agent every few seconds and start it again a moment later; at
      // most one replica is down at a time (the balancer needs one). One kill slot is PostgreSQL's restart.
      const pgSlot = rnd.int(1, Math.max(1, S.kills - 2));
      const restarts: Promise<void>[] = [];
      let pgRestarting: Promise<void> | undefined;
      const log: string[] = [];
      for (let k = 0; k < S.kills; k++) {
        await submitWave();
        await sleep(rnd.int(1500, 5000));
        if (k === pgSlot) {
          log.push(`${k}: postgres restart`);
          pgRestarting = pgc.restartImmediate();
          await pgRestarting;
          pgRestarting = undefined;
        }
        const candidates = [...agents.filter((a) => a.alive), ...replicas.filter((r) => r.alive && replicas.every((x) => x.alive))];
        if (candidates.length === 0) continue;
        const victim = rnd.pick(candidates);
        const downMs = rnd.int(300, 3000);
        log.push(`${k}: kill ${victim.name}, back after ${downMs} ms`);
        await victim.kill();
        restarts.push(
          (async () => {
            await sleep(downMs);
            await pgRestarting;
            const p = victim.start();
            if (victim.name.startsWith('replica-')) {
              const i = replicas.indexOf(victim);
              await waitReady(p, `http://127.0.0.1:${ports[i]}`).catch(() => {});
            }
          })(),
        );
      }
      await submitWave();
      await submitWave();
      await Promise.all(restarts);
      process.stderr.write(`chaos: ${log.join('; ')}\n`);
      expect(promotionIds).toHaveLength(S.promotions);

      // Settle: every promotion and job reaches a final state.
      const deadline = Date.now() + S.settleMs;
      let open: { promotions: number; jobs: number } = { promotions: -1, jobs: -1 };
      for (;;) {
        const p = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM promotions WHERE status <> ALL($1::text[])`, [
          FINAL_PROMOTION,
        ]);
        const j = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM deployment_jobs WHERE status <> ALL($1::text[])`, [
          FINAL_JOB,
        ]);
        open = { promotions: p.rows[0]!.n, jobs: j.rows[0]!.n };
        if ((open.promotions === 0 && open.jobs === 0) || Date.now() > deadline) break;
        await sleep(1000);
      }
      const byStatus = await sql.query<{ status: string; blocked_reason: string | null; n: number }>(
        `SELECT status, min(blocked_reason) AS blocked_reason, count(*)::int AS n FROM promotions GROUP BY status ORDER BY status`,
      );
      const jobStatus = await sql.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM deployment_jobs GROUP BY status ORDER BY status`,
      );
      const effects = countEffects(await readFile(journal, 'utf8'));
      const twice = [...effects].filter(([, n]) => n > 1);
      const succeededTasks = await sql.query<{ job_id: string; target_id: string }>(
        `SELECT job_id, target_id FROM deployment_tasks WHERE status = 'succeeded'`,
      );
      const unrecorded = succeededTasks.rows.filter((t) => !effects.has(`${t.job_id}/${t.target_id}`));
      const packets = await sql.query<{ id: string; status: string; reused: boolean | null; n: number }>(
        `SELECT p.id, p.status, (p.decision_record->'evidence'->>'reused')::boolean AS reused,
                (SELECT count(*)::int FROM evidence_packets e WHERE e.promotion_id = p.id AND e.packet_type = 'release_decision') AS n
           FROM promotions p WHERE p.decision_record ? 'outcome'`,
      );
      const badPackets = packets.rows.filter((p) => p.n !== (p.reused ? 0 : 1));
      process.stderr.write(
        `chaos: seed ${SEED}: promotions ${JSON.stringify(byStatus.rows)}; jobs ${JSON.stringify(jobStatus.rows)}; ` +
          `effects ${effects.size} (twice: ${twice.length}); kills ${procs.reduce((n, p) => n + p.kills, 0)}; ` +
          `decisions ${packets.rows.length} (packet count wrong: ${badPackets.length}); unexpected exits ${unexpected.length}\n`,
      );
      const failedJobs = await sql.query<{ id: string; error: string | null; tasks: string[] }>(
        `SELECT j.id, j.error, array_agg(t.status || ': ' || coalesce(t.error, '')) AS tasks
           FROM deployment_jobs j JOIN deployment_tasks t ON t.job_id = j.id WHERE j.status = 'failed' GROUP BY j.id`,
      );
      if (failedJobs.rows.length) process.stderr.write(`chaos: failed jobs: ${JSON.stringify(failedJobs.rows)}\n`);
      for (const u of unexpected) process.stderr.write(`chaos: ${u.name} exited by itself (${u.code}):\n${u.stderrTail}\n`);
      if (twice.length) process.stderr.write(`chaos: effects applied more than once (job/target: n): ${JSON.stringify(twice)}\n`);

      // The exported chain verifies offline against the shared public key.
      const cli = childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token });
      const bundle = path.join(work, 'bundle.json');
      const exp = await runGantry(['evidence', 'export', '-o', bundle], cli, 120_000);
      const ver = exp.code === 0 ? await runGantry(['evidence', 'verify', bundle, '--key', pubFile, '--json'], cli, 120_000) : undefined;
      const verified = ver?.code === 0 && (JSON.parse(ver.stdout) as { ok: boolean }).ok === true;
      process.stderr.write(
        `chaos: seed ${SEED}: evidence export ${exp.code}, offline verify ${verified ? 'ok' : `FAILED ${ver?.stdout ?? exp.stderr}`}\n`,
      );
      expect(unexpected.map((u) => `${u.name}: ${u.code}`)).toEqual([]);
      expect(procs.reduce((n, p) => n + p.kills, 0)).toBeGreaterThanOrEqual(Math.min(S.kills - 1, 10));
      expect(open).toEqual({ promotions: 0, jobs: 0 });
      expect(twice).toEqual([]);
      expect(unrecorded).toEqual([]);
      expect(packets.rows.length).toBeGreaterThan(0);
      expect(badPackets).toEqual([]);

      expect(exp.code, exp.stderr).toBe(0);
      expect(verified, ver?.stdout).toBe(true);
      await sql.end();
    },
    T,
  );
});
