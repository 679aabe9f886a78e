// Benchmark: offline evidence verification rate. Appends N signed, chained packets through the real
// service, exports the bundle the API would serve, JSON round-trips it like a file, and times
// verifyBundle (canonicalise, hash, header, envelope, Ed25519, chain) against bare node:crypto Ed25519
// verification of the same signatures over the same bytes. Prints the ratio; docs/benchmarks.md records it.
// Usage: npm run bench (after workflows), or tsx bench/evidence.ts [-- --packets 2000 --rounds 5]
import { verify as edVerify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { exportBundle } from '../src/evidence/export.js';
import { appendPacket } from '../src/evidence/service.js';
import { ephemeralSigner } from '../src/evidence/signer.js';
import { pae, parseBundle, parseEnvelope, publicKeyFromPem, verifyBundle } from '../src/protocol/evidence-format.js';
import { createPool, withTenant } from '../src/store/db.js';
import { startEmbedded } from '../src/store/embedded.js';
import { migrate } from '../src/store/migrate.js';
import { bootstrap } from '../src/tenancy/service.js';

const { values: args } = parseArgs({
  options: { packets: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '5' } },
});
const PACKETS = Number(args.packets);
const ROUNDS = Number(args.rounds);

/** A release_decision-sized content: a release of 5 components, 8 gate results, 2 approvals. */
function content(i: number) {
  const digest = (n: number) => `sha256:${(i * 31 + n).toString(16).padStart(64, '0')}`;
  return {
    promotion: { id: `0190a000-0000-7000-8000-${i.toString(16).padStart(12, '0')}` },
    environment: { id: '0190a000-0000-7000-8000-0000000000aa', name: 'prod' },
    release: {
      name: `r-${i}`,
      components: Array.from({ length: 5 }, (_, n) => ({ component: `svc-${n}`, tag: `1.${i}.${n}`, digest: digest(n) })),
    },
    actors: {
      requester: { id: 'u1', username: 'alice' },
      approvers: [
        { id: 'u2', username: 'bob' },
        { id: 'u3', username: 'carol' },
      ],
    },
    decision: {
      outcome: 'approved',
      gates: Array.from({ length: 8 }, (_, g) => ({
        gate: `gate-${g}`,
        status: 'pass',
        reason: 'ok',
        inputs: { n: g, at: '2026-01-01T00:00:00Z' },
      })),
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!adminUrl) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-ev-'));
    const store = await startEmbedded({ dataDir: dir, database: 'postgres' });
    adminUrl = store.connectionString;
    stop = store.stop;
  }
  try {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query('DROP DATABASE IF EXISTS gantry_bench_evidence WITH (FORCE)');
    await c.query('CREATE DATABASE gantry_bench_evidence');
    await c.end();
    const u = new URL(adminUrl);
    u.pathname = '/gantry_bench_evidence';
    await migrate(u.toString());
    const db = createPool(u.toString(), 4);
    await bootstrap(db);
    const tenantId = (await db.query<{ id: string }>(`SELECT id FROM tenants WHERE name = 'default'`)).rows[0]!.id;
    const signer = ephemeralSigner();
    const t0 = performance.now();
    for (let i = 0; i < PACKETS; i++) {
      await withTenant(db, tenantId, (tx) =>
        appendPacket(tx, signer, { tenantId, promotionId: null, packetType: 'release_decision', content: content(i) }),
      );
    }
    const appendMs = performance.now() - t0;
    const exported = await withTenant(db, tenantId, (tx) => exportBundle(tx, tenantId, {}, new Date()));
    await db.end();
    const text = JSON.stringify(exported);
    console.log(
      `${PACKETS} packets appended in ${(appendMs / 1000).toFixed(1)} s (${((PACKETS * 1000) / appendMs).toFixed(0)}/s, one transaction each); bundle ${(text.length / 1e6).toFixed(1)} MB; ${os.cpus().length} cores; ${new Date().toISOString()}`,
    );

    // Raw baseline: only crypto.verify over pre-built PAE bytes with a pre-parsed key.
    const key = publicKeyFromPem(signer.publicKeyPem).key;
    const raw = exported.packets.map((p) => {
      const env = parseEnvelope(p.signature)!;
      return { data: pae(env.payloadType, Buffer.from(env.payload, 'base64')), sig: Buffer.from(env.signatures[0]!.sig, 'base64') };
    });
    const gantryRates: number[] = [];
    const rawRates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side runs first so neither always gets the warmer CPU.
      const runGantry = () => {
        const s = performance.now();
        const report = verifyBundle(parseBundle(JSON.parse(text)));
        if (!report.ok) throw new Error(`bench bundle failed verification: ${JSON.stringify(report.failures[0])}`);
        gantryRates.push((PACKETS * 1000) / (performance.now() - s));
      };
      const runRaw = () => {
        const s = performance.now();
        for (const x of raw) if (!edVerify(null, x.data, key, x.sig)) throw new Error('raw verify failed');
        rawRates.push((PACKETS * 1000) / (performance.now() - s));
      };
      if (r % 2) {
        runRaw();
        runGantry();
      } else {
        runGantry();
        runRaw();
      }
    }
    const g = median(gantryRates);
    const w = median(rawRates);
    console.log(`\n| workload | gantry verify packets/s | raw Ed25519 verifications/s | gantry / raw |`);
    console.log('|---|---|---|---|');
    console.log(`| ${PACKETS}-packet bundle, median of ${ROUNDS} | ${g.toFixed(0)} | ${w.toFixed(0)} | ${(g / w).toFixed(2)} |`);
    console.log(`rounds: gantry ${gantryRates.map((x) => x.toFixed(0)).join(', ')}; raw ${rawRates.map((x) => x.toFixed(0)).join(', ')}`);
  } finally {
    await stop?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
