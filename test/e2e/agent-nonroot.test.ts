// e2e: the agent as a non-root user (nobody) next to a real dockerd whose socket belongs to the docker
// group. In the docker group it starts, registers and heartbeats with the engine's version (it talked to
// dockerd); outside it, it stops at start saying which group to join; with a state dir it cannot write
// (owned by root) it stops at start saying how to hand the directory over.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb } from '../helpers.js';
import { dockerToolsMissing, startDockerd, type TestDocker } from '../support/docker.js';
import { api, childEnv, freePort, type GantryProcess, killAll, spawnGantry, stopGantry, waitReady } from './support.js';

const skip = dockerToolsMissing();
const T = 180_000;
const NOBODY = 65_534;

/** The gid of a group in /etc/group. */
function gidOf(group: string): number | undefined {
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${group}:`));
  return line ? Number(line.split(':')[2]) : undefined;
}

describe.skipIf(skip || process.getuid?.() !== 0 || gidOf('docker') === undefined)('the agent as a non-root user', () => {
  let dk: TestDocker;
  let dir: string;
  let base: string;
  let dockerGid: number;
  const token = `gty_${randomBytes(32).toString('base64url')}`;

  beforeAll(async () => {
    dk = await startDockerd();
    // The socket as a packaged dockerd leaves it: root:docker, 0660; its directory passable by others.
    dockerGid = gidOf('docker')!;
    const sock = dk.host.slice('unix://'.length);
    await chown(sock, 0, dockerGid);
    await chmod(sock, 0o660);
    await chmod(dk.dir, 0o711);
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-e2e-nonroot-'));
    await chmod(dir, 0o755);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const server = spawnGantry(
      ['server'],
      childEnv({
        DATABASE_URL: (await createTestDb()).url,
        GANTRY_BOOTSTRAP_TOKEN: token,
        GANTRY_PORT: String(port),
        GANTRY_DATA_DIR: path.join(dir, 'data'),
        GANTRY_AGENT_HEARTBEAT_SECONDS: '0.5',
        GANTRY_ENGINE: 'off',
      }),
    );
    await waitReady(server, base);
  }, T);

  afterAll(async () => {
    await killAll();
    await dk?.stop();
  }, T);

  /** `gantry agent run` as nobody with the given primary group; its own HOME, state dir under the temp dir. */
  const runAgent = async (name: string, stateDir: string, gid: number): Promise<GantryProcess> => {
    const join = await api(base, 'POST', '/api/v1/agents/tokens', token, {});
    expect(join.status).toBe(201);
    const home = path.join(dir, `home-${name}`);
    await mkdir(home, { recursive: true });
    await chown(home, NOBODY, gid);
    return spawnGantry(
      [
        'agent',
        'run',
        '--server',
        base,
        '--join-token',
        join.body.token,
        '--name',
        name,
        '--state-dir',
        stateDir,
        '--executor',
        'docker_host',
      ],
      childEnv({ HOME: home, DOCKER_HOST: dk.host }),
      { uid: NOBODY, gid },
    );
  };

  it(
    'in the docker group: starts, registers and heartbeats with the engine version it read from dockerd',
    async () => {
      const state = path.join(dir, 'state-ok');
      await mkdir(state, { mode: 0o700 });
      await chown(state, NOBODY, dockerGid);
      const agent = await runAgent('edge-nobody', state, dockerGid);
      try {
        const version = execFileSync('/usr/sbin/dockerd', ['--version']).toString();
        let engines: Record<string, string> | undefined;
        const deadline = Date.now() + 40_000;
        while (Date.now() < deadline && agent.child.exitCode === null) {
          const a = (await api(base, 'GET', '/api/v1/agents/edge-nobody', token)).body;
          engines = a?.capabilities?.engines;
          if (a?.status === 'online' && engines?.docker) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(engines?.docker, agent.stderr()).toBeTruthy();
        expect(version).toContain(engines!.docker!);
        // The credential it wrote belongs to it, mode 0600.
        const st = execFileSync('stat', ['-c', '%u %a', path.join(state, 'agent.json')])
          .toString()
          .trim();
        expect(st).toBe(`${NOBODY} 600`);
      } finally {
        expect(await stopGantry(agent, 15_000)).toBe(0);
      }
    },
    T,
  );

  it(
    'outside the docker group: stops at start naming the socket, the user and the group to join',
    async () => {
      const state = path.join(dir, 'state-nogroup');
      await mkdir(state, { mode: 0o700 });
      await chown(state, NOBODY, NOBODY);
      const agent = await runAgent('edge-nogroup', state, NOBODY);
      const code = await agent.exited;
      expect(code, agent.stderr()).not.toBe(0);
      expect(agent.stderr()).toContain(`may not use the Docker socket ${dk.host.slice('unix://'.length)} (EACCES)`);
      expect(agent.stderr()).toContain('add user nobody to the group "docker"');
      expect(agent.stderr()).toContain('sudo usermod -aG docker nobody');
      // Nothing was registered: the check runs before the agent connects.
      expect((await api(base, 'GET', '/api/v1/agents/edge-nogroup', token)).status).toBe(404);
    },
    T,
  );

  it(
    'with a state dir it cannot write: stops at start saying how to hand it over',
    async () => {
      const state = path.join(dir, 'state-root');
      await mkdir(state, { mode: 0o700 }); // root's
      const agent = await runAgent('edge-rootdir', state, dockerGid);
      const code = await agent.exited;
      expect(code, agent.stderr()).not.toBe(0);
      expect(agent.stderr()).toContain(
        `the agent runs as nobody (uid ${NOBODY}) and cannot write its state dir ${state}, owned by uid 0 (EACCES)`,
      );
      expect(agent.stderr()).toContain(`sudo install -d -o nobody -m 0700 ${state}`);
      expect((await api(base, 'GET', '/api/v1/agents/edge-rootdir', token)).status).toBe(404);
    },
    T,
  );
});
