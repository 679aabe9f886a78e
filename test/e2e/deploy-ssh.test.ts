// e2e: an agentless ssh_host target through a real sshd: the server connects with the target's key
// (credentialRef file:…, host key pinned), runs the docker CLI on the remote side, probes health through
// the SSH connection and writes the sticker there. Then a manual `gantry rollback` with and without --to.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Of } from '../../src/protocol/deployment.js';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, pushHttpdImage, runningDigest, startDockerd, type TestDocker } from '../support/docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { sshdMissing, startSshd, type TestSshd } from '../support/sshd.js';
import { api, childEnv, freePort, type GantryProcess, killAll, runGantry, spawnGantry, stopGantry, waitReady } from './support.js';

const skip = dockerToolsMissing() ?? sshdMissing();
const T = 180_000;

describe.skipIf(skip)('ssh_host targets deploy through the local sshd', () => {
  let reg: TestRegistry;
  let dk: TestDocker;
  let sshd: TestSshd;
  let server: GantryProcess;
  let base: string;
  const target = `ssh-${randomBytes(3).toString('hex')}`;
  const token = `gty_${randomBytes(32).toString('base64url')}`;
  const digests: Record<string, string> = {};
  // any: the tests read arbitrary JSON
  const call = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> =>
    api(base, method, url, token, body);
  const gantry = async (...args: string[]) => {
    const r = await runGantry(args, childEnv({ GANTRY_SERVER: base, GANTRY_TOKEN: token }), 120_000);
    return { ...r, json: (): any => JSON.parse(r.stdout) };
  };

  beforeAll(async () => {
    [reg, dk, sshd] = await Promise.all([startRegistry(), startDockerd(), startSshd()]);
    digests.v1 = await pushHttpdImage(reg, 'demo/web', '1.0');
    digests.v2 = await pushHttpdImage(reg, 'demo/web', '2.0');
    const tdb = await createTestDb();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawnGantry(
      ['server'],
      childEnv({
        DATABASE_URL: tdb.url,
        GANTRY_BOOTSTRAP_TOKEN: token,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-ssh-')),
        GANTRY_DEPLOY_SWEEP_SECONDS: '0.3',
      }),
    );
    await waitReady(server, base);
    expect((await gantry('component', 'create', 'web', '--image', `${reg.host}/demo/web`)).code).toBe(0);
    const deployment = {
      services: { web: { command: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:${label.port}', '-h', '/www'], port: '${label.port}' } },
      healthCheck: { type: 'http', path: '/cgi-bin/healthz', retries: 20, interval: 0.3 },
    };
    const env = await call('POST', '/api/v1/environments', { name: 'edge', config: { deployment } });
    expect(env.status).toBe(201);
    const t = await call('POST', '/api/v1/targets', {
      name: target,
      environmentId: env.body.id,
      targetType: 'ssh_host',
      connection: {
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        credentialRef: `file:${sshd.keyFile}`,
        dockerHost: dk.host,
        hostKeyFingerprint: sshd.hostKeyFingerprint,
      },
      labels: { port: String(await freePort()) },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    for (const [name, d] of [
      ['s1', digests.v1],
      ['s2', digests.v2],
    ]) {
      const r = await call('POST', '/api/v1/releases', { name, components: [{ component: 'web', digest: d }] });
      expect((await call('POST', `/api/v1/releases/${r.body.id}/ready`)).status).toBe(200);
    }
  }, T);

  afterAll(async () => {
    if (server) await stopGantry(server);
    await killAll();
    await rm(path.join(os.homedir(), '.gantry', 'targets', target), { recursive: true, force: true });
    await Promise.all([reg?.stop(), dk?.stop(), sshd?.stop()]);
  }, T);

  it(
    'deploys over SSH with no agent, writes the sticker on the host, and rolls back by hand',
    async () => {
      const d1 = await gantry('deploy', 'create', 's1', 'edge', '--wait', '--json');
      expect(d1.code, d1.stderr + d1.stdout).toBe(0);
      const job = d1.json();
      expect(job.tasks[0]).toMatchObject({ status: 'succeeded', agentId: null, leaseOwner: expect.stringMatching(/^server:/) });
      expect(await runningDigest(dk.docker, `gantry-${target}-web`, `${reg.host}/demo/web`)).toBe(digests.v1);
      const t = (await call('GET', `/api/v1/targets/${target}`)).body;
      expect(t.currentDigest).toBe(digests.v1);
      const sticker = JSON.parse(await readFile(path.join(os.homedir(), '.gantry', 'targets', target, 'gantry.version.json'), 'utf8'));
      expect(sticker).toMatchObject({ digest: digests.v1, release: { name: 's1' }, target: { name: target } });
      const logs = (await call('GET', `/api/v1/deployments/${job.id}/logs`)).body.lines.map((l: any) => l.line);
      expect(logs.some((l: string) => l.includes(`connected to ${sshd.user}@127.0.0.1`))).toBe(true);
      expect(logs.some((l: string) => l.includes('healthy'))).toBe(true);

      expect((await gantry('deploy', 'create', 's2', 'edge', '--wait')).code).toBe(0);
      expect(await runningDigest(dk.docker, `gantry-${target}-web`, `${reg.host}/demo/web`)).toBe(digests.v2);

      const back = await gantry('rollback', 'edge', '--wait', '--json');
      expect(back.code, back.stderr).toBe(0);
      expect(back.json()).toMatchObject({ status: 'succeeded', rollbackOf: expect.any(String), releaseName: 's1' });
      expect(await runningDigest(dk.docker, `gantry-${target}-web`, `${reg.host}/demo/web`)).toBe(digests.v1);

      const to = await gantry('rollback', 'edge', '--to', 's2', '--wait', '--json');
      expect(to.code, to.stderr).toBe(0);
      expect(await runningDigest(dk.docker, `gantry-${target}-web`, `${reg.host}/demo/web`)).toBe(digests.v2);
      const after = JSON.parse(await readFile(path.join(os.homedir(), '.gantry', 'targets', target, 'gantry.version.json'), 'utf8'));
      const stickers = (await call('GET', `/api/v1/drift?environment=edge`)).body.items[0];
      expect(stickers.stickerHash).toBe(sha256Of(canonicalJson(after)));
    },
    T,
  );
});
