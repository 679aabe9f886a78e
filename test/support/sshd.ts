// A real OpenSSH server for tests: Debian's sshd on 127.0.0.1 with a generated host key and a generated
// user key (the only authorized one), no PAM, its own pid file; stopped with SIGTERM.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);
const TOOLS = ['/usr/sbin/sshd', '/usr/bin/ssh-keygen'];

export function sshdMissing(): string | undefined {
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length === 0) return undefined;
  const msg = `ssh e2e tests need ${missing.join(', ')} (apt-get install -y openssh-server)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

export interface TestSshd {
  port: number;
  user: string;
  /** Path of the private key the server accepts. */
  keyFile: string;
  /** OpenSSH fingerprint of the host key, e.g. SHA256:… */
  hostKeyFingerprint: string;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<TestSshd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sshd-'));
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'user_key')]);
  const port = await freePort();
  await writeFile(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_key`,
      `AuthorizedKeysFile ${dir}/user_key.pub`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      `PidFile ${dir}/sshd.pid`,
      '',
    ].join('\n'),
  );
  await mkdir('/run/sshd', { recursive: true }); // privilege separation directory sshd insists on
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-10_000);
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pub = (await readFile(path.join(dir, 'host_key.pub'), 'utf8')).split(' ')[1]!;
  const hostKeyFingerprint = `SHA256:${createHash('sha256').update(Buffer.from(pub, 'base64')).digest('base64').replace(/=+$/, '')}`;
  return {
    port,
    user: os.userInfo().username,
    keyFile: path.join(dir, 'user_key'),
    hostKeyFingerprint,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
