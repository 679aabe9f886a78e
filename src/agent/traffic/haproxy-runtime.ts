// HAProxy's runtime API (the "stats socket … level admin" unix socket): one command per connection, the
// non-interactive mode, where HAProxy answers and closes. Commands that change something answer nothing
// when they succeed, so any text they answer is an error.
import net from 'node:net';
import { TrafficRouterError } from './types.js';

const MAX_ANSWER = 1 << 20;

/** Sends one command and returns HAProxy's whole answer. */
export function haproxyCommand(socket: string, command: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const conn = net.createConnection(socket);
    const fail = (why: string) => {
      conn.destroy();
      reject(
        new TrafficRouterError(
          `HAProxy runtime API at ${socket}, "${command}": ${why} (is haproxy running with "stats socket ${socket} level admin"?)`,
        ),
      );
    };
    conn.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    conn.on('error', (err) => fail(err.message));
    conn.on('connect', () => conn.write(`${command}\n`));
    conn.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_ANSWER) return fail(`answer longer than ${MAX_ANSWER} bytes`);
      chunks.push(d);
    });
    conn.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** A command that answers nothing when it succeeds (set weight, set server … state). */
export async function haproxySet(socket: string, command: string): Promise<void> {
  const answer = (await haproxyCommand(socket, command)).trim();
  if (answer) throw new TrafficRouterError(`HAProxy refused "${command}": ${answer}`);
}

/** The current weight of backend/server ("get weight" answers "<current> (initial <initial>)"). */
export async function haproxyWeight(socket: string, server: string): Promise<number> {
  const answer = (await haproxyCommand(socket, `get weight ${server}`)).trim();
  const m = /^(\d+) \(initial \d+\)$/.exec(answer);
  if (!m)
    throw new TrafficRouterError(
      `HAProxy answered "get weight ${server}" with "${answer}": configure the route again (reload) to create it`,
    );
  return Number(m[1]);
}
