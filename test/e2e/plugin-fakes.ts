// Test servers for the integrations tests. FakeVault is a FAKE: a small HTTP server speaking the part of
// the HashiCorp Vault / OpenBao HTTP API Gantry uses (KV v2 reads and token lookup-self), because no
// Vault or OpenBao binary can be installed from the package registries this project uses. A webhook
// receiver records what notifications and policy calls arrive.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FakeServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

async function serve(handler: (r: Recorded, res: http.ServerResponse) => void): Promise<FakeServer> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const r = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body };
      requests.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/**
 * A fake Vault: KV v2 at /v1/<mount>/data/<path> (answers shaped like Vault's, with data.data and
 * data.metadata), token lookup-self, X-Vault-Token checked, X-Vault-Namespace required when set.
 */
export async function startFakeVault(opts: {
  token: string;
  mount?: string;
  namespace?: string;
  secrets: Record<string, Record<string, string>>;
}): Promise<FakeServer> {
  const mount = opts.mount ?? 'secret';
  return serve((r, res) => {
    if (r.headers['x-vault-token'] !== opts.token) return json(res, 403, { errors: ['permission denied'] });
    if (opts.namespace && r.headers['x-vault-namespace'] !== opts.namespace) return json(res, 403, { errors: ['permission denied'] });
    if (r.method === 'GET' && r.url === '/v1/auth/token/lookup-self') {
      return json(res, 200, { request_id: 'fake', data: { display_name: 'token', policies: ['default'], ttl: 3600 } });
    }
    const prefix = `/v1/${mount}/data/`;
    if (r.method === 'GET' && r.url.startsWith(prefix)) {
      const data = opts.secrets[decodeURIComponent(r.url.slice(prefix.length))];
      if (!data) return json(res, 404, { errors: [] });
      return json(res, 200, {
        request_id: 'fake',
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: { data, metadata: { created_time: '2026-01-01T00:00:00Z', deletion_time: '', destroyed: false, version: 1 } },
        wrap_info: null,
        warnings: null,
        auth: null,
      });
    }
    return json(res, 404, { errors: [] });
  });
}

/** Answers every request with `status` (and an OPA-style allow for policy calls). */
export async function startReceiver(status = 200): Promise<FakeServer & { setStatus(s: number): void }> {
  let current = status;
  const s = await serve((r, res) => json(res, current, r.url.startsWith('/v1/data') ? { result: { allow: true } } : { ok: current < 300 }));
  return { ...s, setStatus: (x) => (current = x) };
}
