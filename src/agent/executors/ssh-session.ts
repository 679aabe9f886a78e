// An SSH session to a target host (ssh2): runs remote commands, opens tunnels for health probes, and
// quotes arguments for the remote shell. Used by the ssh_host executor and by removals over SSH.
import { createHash } from 'node:crypto';
import { Client, type ClientChannel } from 'ssh2';
import { TaskFailure, type TaskLog } from './types.js';

export interface SshConnection {
  host: string;
  port?: number;
  user: string;
  dockerHost?: string;
  hostKeyFingerprint?: string;
}

/** POSIX shell quoting: every argument becomes one word on the remote side. */
export const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export class SshSession {
  private constructor(private readonly c: Client) {}

  static connect(conn: SshConnection, privateKey: string, timeoutMs = 15_000): Promise<SshSession> {
    return new Promise((resolve, reject) => {
      const c = new Client();
      c.once('ready', () => resolve(new SshSession(c)));
      c.once('error', (err) => reject(new TaskFailure(`ssh ${conn.user}@${conn.host}:${conn.port ?? 22}: ${err.message}`)));
      c.connect({
        host: conn.host,
        port: conn.port ?? 22,
        username: conn.user,
        privateKey,
        readyTimeout: timeoutMs,
        ...(conn.hostKeyFingerprint
          ? {
              hostVerifier: (key: Buffer) =>
                `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` ===
                conn.hostKeyFingerprint!.replace(/=+$/, ''),
            }
          : {}),
      });
    });
  }

  /** Runs a command; resolves with its exit code and output (stdin optional). */
  run(cmd: string, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      this.c.exec(cmd, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        stream.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        stream.on('close', (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
        stream.end(stdin ?? '');
      });
    });
  }

  async must(cmd: string, log?: TaskLog, stdin?: string): Promise<string> {
    const r = await this.run(cmd, stdin);
    if (r.code !== 0) throw new TaskFailure(`remote command failed (${r.code}): ${cmd.slice(0, 200)}: ${r.stderr.trim().slice(-1000)}`);
    if (log) for (const line of r.stdout.split('\n').filter(Boolean).slice(-20)) log(line);
    return r.stdout;
  }

  /** A TCP channel to 127.0.0.1:port as seen from the remote host (for health probes). */
  tunnel(port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) =>
      this.c.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, ch) => (err ? reject(err) : resolve(ch))),
    );
  }

  close(): void {
    this.c.end();
  }
}
