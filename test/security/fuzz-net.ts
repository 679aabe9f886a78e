// Fuzz support: the servers under fuzz may only ever send traffic to loopback. A guard on net.Socket#connect
// (the server runs in this process) sends any other destination to a closed loopback port and records it, and a
// sink answers on loopback like a registry and a webhook, so fuzzed URLs that point at it get an answer.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;

export interface NetGuard {
  /** Destinations refused since the last take(), as "host:port". */
  take(): string[];
  restore(): void;
}

/** Installs the guard; `closedPort` is a loopback port nothing listens on. */
export function guardOutbound(closedPort: number): NetGuard {
  let blocked: string[] = [];
  const original = net.Socket.prototype.connect;
  // any: connect has several overloads (options, [options, cb] as normalized by net.connect, port/host).
  net.Socket.prototype.connect = function guarded(this: net.Socket, ...args: any[]) {
    const first = args[0];
    const opts = Array.isArray(first) ? first[0] : typeof first === 'object' && first !== null ? first : undefined;
    if (opts) {
      if (opts.path === undefined && !LOOPBACK.test(String(opts.host ?? 'localhost'))) {
        blocked.push(`${opts.host}:${opts.port}`);
        opts.host = '127.0.0.1';
        opts.port = closedPort;
        delete opts.lookup;
      }
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      const host = typeof args[1] === 'string' ? args[1] : 'localhost';
      if (!LOOPBACK.test(host)) {
        blocked.push(`${host}:${first}`);
        args[0] = closedPort;
        args[1] = '127.0.0.1';
      }
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  return {
    take() {
      const out = blocked;
      blocked = [];
      return out;
    },
    restore() {
      net.Socket.prototype.connect = original;
    },
  };
}

export interface Sink {
  /** host:port of the sink */
  host: string;
  requests: number;
  close(): Promise<void>;
}

/** Answers like an OCI registry (no tags; any digest exists) and like a webhook that allows. */
export async function startSink(): Promise<Sink> {
  const sink = { host: '', requests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    sink.requests++;
    req.resume();
    req.on('end', () => {
      const url = decodeURIComponent(req.url ?? '/');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url === '/v2/' || url === '/v2') return json(200, {});
      const tags = /^\/v2\/(.+)\/tags\/list/.exec(url);
      if (tags) return json(200, { name: tags[1], tags: [] });
      const digest = /^\/v2\/.+\/manifests\/(sha256:[0-9a-f]{64})$/.exec(url);
      if (digest) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest[1] });
        return res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ schemaVersion: 2, layers: [] }));
      }
      if (url.startsWith('/v2/')) return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      return json(200, { allow: true, result: { allow: true }, status: 'ok' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
