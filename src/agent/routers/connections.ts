// Open TCP connections towards an address, read from /proc/net/tcp and /proc/net/tcp6 of this network
// namespace: how a live switch (nginx format "live") knows that the requests in flight to the previous
// servers have ended. nginx opens one connection per proxied request to an address it got from a
// variable, so none left established means none in flight.
import { readFile, readlink } from 'node:fs/promises';
import { isIP } from 'node:net';

/** "127.0.0.1" → "0100007F" (/proc/net/tcp writes each 32-bit word in host byte order: little-endian here). */
function procHex(ip: string): string | null {
  if (isIP(ip) === 4) {
    return ip
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .reverse()
      .join('')
      .toUpperCase();
  }
  return null;
}

/** IPv4 addresses as /proc/net/tcp6 writes them when mapped (::ffff:a.b.c.d). */
function procHex6Mapped(ip: string): string | null {
  const v4 = procHex(ip);
  return v4 ? `0000000000000000FFFF0000${v4}` : null;
}

const ESTABLISHED = '01';

/** Connections in ESTABLISHED state whose remote end is host:port (null when host is not an IPv4 literal). */
export async function establishedTo(host: string, port: number, procRoot = '/proc'): Promise<number | null> {
  const v4 = procHex(host);
  if (!v4) return null;
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const wanted = new Set([`${v4}:${portHex}`, `${procHex6Mapped(host)}:${portHex}`]);
  let n = 0;
  for (const file of ['net/tcp', 'net/tcp6']) {
    const text = await readFile(`${procRoot}/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === ESTABLISHED && wanted.has(f[2]!)) n++;
    }
  }
  return n;
}

/** Whether the process `pid` shares this process's network namespace (false when it cannot be told). */
export async function sameNetworkNamespace(pid: number, procRoot = '/proc'): Promise<boolean> {
  try {
    const [mine, theirs] = await Promise.all([readlink(`${procRoot}/self/ns/net`), readlink(`${procRoot}/${pid}/ns/net`)]);
    return mine === theirs;
  } catch {
    return false;
  }
}
