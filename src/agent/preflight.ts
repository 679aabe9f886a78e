// Start-up checks of the agent's host: the state dir can be written (and a stored credential read) by the
// user the agent runs as, and the Docker socket it deploys through accepts that user. A non-root agent
// that lacks either stops at start with what to change, instead of failing later, task by task.
import { constants, readFileSync } from 'node:fs';
import { access, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/** The default engine endpoint when DOCKER_HOST is not set. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** "name (uid N)" of the user this process runs as. */
export function whoAmI(): { name: string; uid: number; label: string } {
  const uid = process.getuid?.() ?? -1;
  let name = `uid ${uid}`;
  try {
    name = os.userInfo().username;
  } catch {
    // no passwd entry for this uid (a container started with --user N): the number is all there is
  }
  return { name, uid, label: name === `uid ${uid}` ? name : `${name} (uid ${uid})` };
}

function groupName(gid: number): string {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === gid) return name;
    }
  } catch {
    // no /etc/group: name the group by its number
  }
  return String(gid);
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;
const denied = (err: unknown) => ['EACCES', 'EPERM', 'EROFS'].includes(String(codeOf(err)));

/** The state dir exists (created 0700 if not), is writable, and a stored credential in it is readable. */
export async function checkStateDir(stateDir: string): Promise<void> {
  const me = whoAmI();
  const fix = `give it to that user: sudo install -d -o ${me.name} -m 0700 ${stateDir} (or sudo chown -R ${me.name} ${stateDir})`;
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    if (denied(err)) throw new Error(`the agent runs as ${me.label} and cannot create its state dir ${stateDir} (${codeOf(err)}): ${fix}`);
    throw new Error(`cannot create the agent's state dir ${stateDir}: ${codeOf(err)}`);
  }
  const probe = path.join(stateDir, `.write-check-${process.pid}`);
  try {
    await writeFile(probe, '', { mode: 0o600 });
    await rm(probe, { force: true });
  } catch (err) {
    const owner = await stat(stateDir).then(
      (s) => `, owned by uid ${s.uid}`,
      () => '',
    );
    if (denied(err))
      throw new Error(`the agent runs as ${me.label} and cannot write its state dir ${stateDir}${owner} (${codeOf(err)}): ${fix}`);
    throw new Error(`cannot write the agent's state dir ${stateDir}: ${codeOf(err)}`);
  }
  const credential = path.join(stateDir, 'agent.json');
  try {
    await access(credential, constants.R_OK | constants.W_OK);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return; // first start: registration writes it
    throw new Error(
      `the agent runs as ${me.label} and cannot read and write its credential ${credential} (${codeOf(err)}), perhaps written by an earlier run as another user: sudo chown -R ${me.name} ${stateDir}`,
    );
  }
}

export interface EngineCheck {
  /** The endpoint checked (DOCKER_HOST or the default socket). */
  dockerHost: string;
  /** The engine's version when it answered. */
  version?: string;
  /** Why it did not answer, when that is not a permission problem (the engine may start later). */
  warning?: string;
}

/**
 * Asks the engine behind DOCKER_HOST (default /var/run/docker.sock) for its version. A socket that refuses
 * this user (EACCES) is an error naming the group to join; an engine that is not there yet is a warning.
 * Targets name their own dockerHost; this checks the one the host's tools use.
 */
export async function checkDockerSocket(dockerHost = process.env.DOCKER_HOST || DEFAULT_DOCKER_HOST): Promise<EngineCheck> {
  if (!dockerHost.startsWith('unix://')) return { dockerHost };
  const socketPath = dockerHost.slice('unix://'.length);
  try {
    const version = await new Promise<string>((resolve, reject) => {
      const req = http.get({ socketPath, path: '/version', timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          try {
            resolve(String((JSON.parse(body) as { Version?: unknown }).Version ?? 'unknown'));
          } catch {
            resolve('unknown');
          }
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 5 s'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
    });
    return { dockerHost, version };
  } catch (err) {
    if (!denied(err)) return { dockerHost, warning: `no Docker engine answers at ${dockerHost} (${codeOf(err)})` };
    const me = whoAmI();
    const group = await stat(socketPath).then(
      (s) => groupName(s.gid),
      () => 'docker',
    );
    throw new Error(
      `the agent runs as ${me.label} and may not use the Docker socket ${socketPath} (${codeOf(err)}): add user ${me.name} to the group "${group}" that owns it (sudo usermod -aG ${group} ${me.name}, then restart the agent), or point DOCKER_HOST at a socket this user owns (rootless podman: unix:///run/user/${me.uid}/podman/podman.sock)`,
    );
  }
}

/** A task's error from a socket that refuses this user gets the same advice as the start-up check. */
export function explainSocketError(error: string): string {
  const m = error.match(/\b(EACCES|EPERM)\b[^\n]*?(\/[^\s'"]+\.sock)/);
  if (!m) return error;
  return `${error} (the agent runs as ${whoAmI().label}: add that user to the group that owns ${m[2]}, or use a socket it owns)`;
}
