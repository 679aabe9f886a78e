// e2e: the container images, built and run on a real dockerd as an operator without a registry would: the
// local base image from this machine's node and libraries (scripts/base-image.sh), the npm package
// (npm pack), docker/server.Dockerfile and docker/agent.Dockerfile built with that BASE. The server
// container (non-root, embedded PostgreSQL in its volume) answers /healthz and turns healthy; the agent
// container, the engine's socket mounted, registers with a join token and deploys a busybox httpd image
// from a real registry to that engine.
// Slow (a build and two image builds): runs with GANTRY_PACKAGE_TESTS=1, as .ci/run does.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerToolsMissing, pushHttpdImage, runningDigest, startDockerd, type TestDocker } from '../support/docker.js';
import { registryToolsMissing, startRegistry, type TestRegistry } from '../support/registry.js';
import { api, freePort, REPO_ROOT } from './support.js';

const run = promisify(execFile);
const enabled = process.env.GANTRY_PACKAGE_TESTS === '1';
const DOCKER_CLI = '/usr/bin/docker';
const T = 900_000;

/** npm and docker without the settings `npm test` hands its children. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') && !k.startsWith('GANTRY_')) env[k] = v;
  return { ...env, ...extra };
}

describe.skipIf(!enabled || Boolean(dockerToolsMissing()) || Boolean(registryToolsMissing()))('the container images', () => {
  let dk: TestDocker;
  let reg: TestRegistry;
  let work: string;
  let docker: (...args: string[]) => Promise<string>;
  const token = `gty_${randomBytes(32).toString('base64url')}`;

  beforeAll(async () => {
    [dk, reg] = await Promise.all([startDockerd(), startRegistry()]);
    work = await mkdtemp(path.join(os.tmpdir(), 'gantry-images-'));
    docker = async (...args: string[]) =>
      (await run(DOCKER_CLI, args, { env: cleanEnv({ DOCKER_HOST: dk.host }), maxBuffer: 64 * 1024 * 1024 })).stdout.trim();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([dk?.stop(), reg?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  it(
    'build from the local base; the server answers /healthz as a non-root user, the agent deploys to the mounted engine',
    async () => {
      if (!(await stat(DOCKER_CLI).catch(() => undefined))) throw new Error(`${DOCKER_CLI} is missing (apt-get install -y docker.io)`);
      const t0 = Date.now();
      const base = await run(path.join(REPO_ROOT, 'scripts', 'base-image.sh'), ['gantry-base:local'], {
        cwd: REPO_ROOT,
        env: cleanEnv({ DOCKER_HOST: dk.host, DOCKER: DOCKER_CLI }),
      });
      process.stderr.write(`${base.stdout.trim()} (${Date.now() - t0} ms)\n`);

      // The build context an operator has after `npm pack`: the package and the lock file.
      const context = path.join(work, 'context');
      await mkdir(context);
      await run('npm', ['pack', '--pack-destination', context], { cwd: REPO_ROOT, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 });
      expect((await readdir(context)).filter((f) => /^gantry-.*\.tgz$/.test(f))).toHaveLength(1);
      await copyFile(path.join(REPO_ROOT, 'package-lock.json'), path.join(context, 'package-lock.json'));
      await copyFile(path.join(REPO_ROOT, '.dockerignore'), path.join(context, '.dockerignore'));
      for (const [image, file] of [
        ['gantry-server:test', 'server.Dockerfile'],
        ['gantry-agent:test', 'agent.Dockerfile'],
      ] as const) {
        const t = Date.now();
        await docker(
          'build',
          '--network',
          'host',
          '--build-arg',
          'BASE=gantry-base:local',
          '-t',
          image,
          '-f',
          path.join(REPO_ROOT, 'docker', file),
          context,
        );
        process.stderr.write(`${image} built in ${Date.now() - t} ms\n`);
      }
      const serverImage = JSON.parse(await docker('image', 'inspect', 'gantry-server:test'))[0];
      expect(serverImage.Config.User).toBe('gantry');
      expect(serverImage.Config.Healthcheck.Test[0]).toBe('CMD');
      const agentImage = JSON.parse(await docker('image', 'inspect', 'gantry-agent:test'))[0];
      expect(agentImage.Config.User).toBe('gantry-agent');

      // The server: host network (bridge networks are not used here), its own port, the embedded PostgreSQL
      // in the image's volume.
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      await docker(
        'run',
        '-d',
        '--name',
        'gantry-server',
        '--network',
        'host',
        '--health-interval',
        '1s',
        '--health-start-period',
        '60s',
        '-e',
        `GANTRY_PORT=${port}`,
        '-e',
        'GANTRY_HOST=127.0.0.1',
        '-e',
        `GANTRY_BOOTSTRAP_TOKEN=${token}`,
        '-e',
        'GANTRY_AGENT_HEARTBEAT_SECONDS=1',
        '-e',
        'GANTRY_AGENT_POLL_SECONDS=0.3',
        'gantry-server:test',
      );
      const logs = () => docker('logs', 'gantry-server').catch((e: Error) => e.message);
      const deadline = Date.now() + 120_000;
      for (;;) {
        const res = await fetch(`${url}/healthz`).catch(() => undefined);
        if (res?.status === 200) break;
        const state = JSON.parse(await docker('inspect', 'gantry-server'))[0].State;
        if (!state.Running || Date.now() > deadline)
          throw new Error(`the server container is not answering: ${JSON.stringify(state)}\n${await logs()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect(await docker('exec', 'gantry-server', 'id', '-u')).toBe('10001');
      for (let i = 0; ; i++) {
        const health = JSON.parse(await docker('inspect', 'gantry-server'))[0].State.Health?.Status;
        if (health === 'healthy') break;
        if (i > 60) throw new Error(`the server container's health is ${health}`);
        await new Promise((r) => setTimeout(r, 500));
      }

      // What to deploy: a busybox httpd image in the registry, one target on the engine the agent sees as
      // /var/run/docker.sock.
      const digest = await pushHttpdImage(reg, 'demo/web', '1.0');
      const webPort = String(await freePort());
      const call = async (method: string, p: string, body?: unknown) => {
        const r = await api(url, method, p, token, body);
        if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
        return r.body;
      };
      const deployment = {
        services: {
          web: { command: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:${label.port}', '-h', '/www'], port: '${label.port}' },
        },
        healthCheck: { type: 'http', path: '/cgi-bin/healthz', timeout: 2, retries: 15, interval: 0.3 },
      };
      const env = await call('POST', '/api/v1/environments', { name: 'dev', config: { deployment } });
      await call('POST', '/api/v1/targets', {
        name: 'web-1',
        environmentId: env.id,
        targetType: 'docker_host',
        connection: { dockerHost: 'unix:///var/run/docker.sock' },
        labels: { port: webPort },
      });
      await call('POST', '/api/v1/components', { name: 'web', imageRepository: `${reg.host}/demo/web` });
      const release = await call('POST', '/api/v1/releases', { name: '1.0', components: [{ component: 'web', digest }] });
      await call('POST', `/api/v1/releases/${release.id}/ready`);

      // The agent container: non-root, in the socket's group, registered with a one-time join token.
      const join = await call('POST', '/api/v1/agents/tokens', {});
      const sock = dk.host.slice('unix://'.length);
      const gid = (await stat(sock)).gid;
      await docker(
        'run',
        '-d',
        '--name',
        'gantry-agent',
        '--network',
        'host',
        '--health-interval',
        '1s',
        '-v',
        `${sock}:/var/run/docker.sock`,
        '--group-add',
        String(gid),
        'gantry-agent:test',
        '--server',
        url,
        '--join-token',
        join.token,
        '--name',
        'edge-1',
        '--executor',
        'docker_host',
      );
      const agentLogs = () => docker('logs', 'gantry-agent').catch((e: Error) => e.message);
      for (let i = 0; ; i++) {
        const a = await api(url, 'GET', '/api/v1/agents/edge-1', token);
        if (a.status === 200 && a.body.status === 'online') break;
        if (i > 120) throw new Error(`the agent container did not come online:\n${await agentLogs()}`);
        await new Promise((r) => setTimeout(r, 500));
      }

      const job = await call('POST', '/api/v1/deployments', { releaseId: '1.0', environmentId: 'dev' });
      let done = job;
      for (let i = 0; !['succeeded', 'failed', 'cancelled'].includes(done.status); i++) {
        if (i > 240) throw new Error(`deployment still ${done.status}:\n${await agentLogs()}`);
        await new Promise((r) => setTimeout(r, 500));
        done = await call('GET', `/api/v1/deployments/${job.id}`);
      }
      expect(done.status, `${JSON.stringify(done.tasks)}\n${await agentLogs()}`).toBe('succeeded');
      // On the engine: the container the agent made, at the pinned digest, serving.
      expect(await runningDigest(dk.docker, 'gantry-web-1-web', `${reg.host}/demo/web`)).toBe(digest);
      const served = await fetch(`http://127.0.0.1:${webPort}/VERSION`);
      expect(await served.text()).toBe('demo/web:1.0\n');
      expect(await docker('exec', 'gantry-agent', 'id', '-u')).toBe('10002');
      for (let i = 0; ; i++) {
        const health = JSON.parse(await docker('inspect', 'gantry-agent'))[0].State.Health?.Status;
        if (health === 'healthy') break;
        if (i > 60) throw new Error(`the agent container's health is ${health}`);
        await new Promise((r) => setTimeout(r, 500));
      }

      // Both stop cleanly on SIGTERM (docker stop), the server stopping its PostgreSQL.
      await docker('stop', '-t', '60', 'gantry-agent', 'gantry-server');
      for (const name of ['gantry-agent', 'gantry-server']) {
        const state = JSON.parse(await docker('inspect', name))[0].State;
        expect(state.ExitCode, `${name}: ${name === 'gantry-server' ? await logs() : await agentLogs()}`).toBe(0);
      }
    },
    T,
  );
});
