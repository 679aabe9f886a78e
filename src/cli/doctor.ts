// `gantry doctor`: checks a Gantry installation from where the operator stands — the server answers and
// runs this CLI's version, its database is ready, the clocks agree, the token works, the agents report in,
// the registries answer — and says for each problem what to do about it.
import { type ApiClient, ApiError, type FetchLike, type HttpAnswer } from './client.js';
import type { Connection } from './config.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do, for a status other than ok. */
  fix?: string;
}

export interface DoctorDeps {
  conn: Connection;
  client: ApiClient;
  fetch: FetchLike;
  cliVersion: string;
  now?: () => number;
  /** Clocks further apart than this fail the clock check (default 5 s). */
  maxSkewMs?: number;
}

interface AgentRow {
  name: string;
  status: 'online' | 'degraded' | 'offline';
  statusReason: string | null;
  lastHeartbeat: string | null;
  revokedAt: string | null;
}

interface IntegrationRow {
  name: string;
  typeId: string;
  healthStatus: 'unknown' | 'healthy' | 'unhealthy';
  healthMessage: string | null;
}

const REGISTRY_TYPES = new Set(['oci_registry']);

export async function runDoctor(d: DoctorDeps): Promise<Check[]> {
  const now = d.now ?? Date.now;
  const checks: Check[] = [];
  const server = d.conn.server;
  const skipRest = (why: string) => {
    for (const name of ['database', 'clock', 'token', 'agents', 'registries']) {
      if (!checks.some((c) => c.name === name)) checks.push({ name, status: 'skip', detail: why });
    }
  };

  // Server: /healthz answers, and the clock is read from the same answer's Date header.
  const t0 = now();
  let health: HttpAnswer;
  try {
    health = await get(d.fetch, `${server}/healthz`, 10_000);
  } catch (err) {
    const e = err as { name?: string; code?: string; cause?: { code?: string }; message?: string };
    const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
    const why = timedOut ? 'no answer within 10 s' : (e.code ?? e.cause?.code ?? e.message ?? 'connection failed');
    checks.push({
      name: 'server',
      status: 'fail',
      detail: `${server} is not reachable (${why})`,
      fix: `start it (gantry server, or systemctl start gantry-server) or point the CLI at it with --server / GANTRY_SERVER (server from: ${d.conn.serverSource})`,
    });
    skipRest('the server is not reachable');
    return checks;
  }
  const t1 = now();
  await health.text();
  if (health.status !== 200) {
    checks.push({
      name: 'server',
      status: 'fail',
      detail: `${server}/healthz answered ${health.status}`,
      fix: 'is this the Gantry server? Check the URL, and any proxy in front of it',
    });
    skipRest('the server is not healthy');
    return checks;
  }
  const version = await serverVersion(d.fetch, server);
  const sameVersion = version === undefined || version === d.cliVersion;
  checks.push({
    name: 'server',
    status: sameVersion ? 'ok' : 'warn',
    detail: `${server} answered in ${t1 - t0} ms: Gantry ${version ?? '(version unknown)'}, this CLI ${d.cliVersion}`,
    ...(sameVersion ? {} : { fix: 'run the same version on both sides: upgrade the older one (npm install -g gantry@<version>)' }),
  });

  // Database: the server's readiness probe runs SELECT 1 against it.
  const ready = await get(d.fetch, `${server}/readyz`, 15_000).then(
    async (r) => ({ status: r.status, body: jsonOf<{ status?: string }>(await r.text()) ?? {} }),
    (err: Error) => ({ status: 0, body: { status: err.message } }),
  );
  checks.push(
    ready.status === 200
      ? { name: 'database', status: 'ok', detail: 'the server reaches its PostgreSQL (/readyz: ready)' }
      : {
          name: 'database',
          status: 'fail',
          detail: `/readyz answered ${ready.status || 'nothing'}: ${ready.body.status ?? 'not ready'}`,
          fix: 'the server cannot query its PostgreSQL: check DATABASE_URL (or the embedded store in <data-dir>/pg), that PostgreSQL runs, and the server log',
        },
  );

  // Clock: the Date header has whole seconds, so compare it with the middle of the request, rounded the same way.
  const date = Date.parse(health.headers.get('date') ?? '');
  if (Number.isNaN(date)) {
    checks.push({ name: 'clock', status: 'skip', detail: 'the answer carried no Date header' });
  } else {
    const skew = date + 500 - (t0 + t1) / 2;
    const max = d.maxSkewMs ?? 5_000;
    const s = (Math.abs(skew) / 1000).toFixed(1);
    checks.push(
      Math.abs(skew) <= max
        ? {
            name: 'clock',
            status: 'ok',
            detail: `the server's clock is within ${Math.max(1, Math.ceil(Math.abs(skew) / 1000))} s of this machine's`,
          }
        : {
            name: 'clock',
            status: 'fail',
            detail: `the server's clock is ${s} s ${skew > 0 ? 'ahead of' : 'behind'} this machine's`,
            fix: 'synchronise both clocks (chrony or systemd-timesyncd; timedatectl shows the state): freeze windows, approvals and leases compare times',
          },
    );
  }

  // Token: everything below reads the API.
  try {
    const me = await d.client.get<{ user: { username: string }; tenant: { name: string }; roles: string[] }>('/whoami');
    checks.push({
      name: 'token',
      status: 'ok',
      detail: `${me.user.username} in tenant ${me.tenant.name}, roles ${me.roles.join(', ') || 'none'} (token from ${d.conn.tokenSource})`,
    });
  } catch (err) {
    checks.push({
      name: 'token',
      status: 'fail',
      detail: (err as Error).message,
      fix: 'give a token: gantry login --server URL --token TOKEN, or GANTRY_TOKEN (an admin creates one with gantry token create)',
    });
    skipRest('no working token');
    return checks;
  }

  checks.push(await agentsCheck(d.client));
  checks.push(...(await registryChecks(d.client)));
  return checks;
}

/** A plain GET outside /api/v1 (the probes), through the CLI's own HTTP client. */
function get(fetch: FetchLike, url: string, timeoutMs: number): Promise<HttpAnswer> {
  return fetch(url, { method: 'GET', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
}

function jsonOf<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** The server's version, from its OpenAPI document (public, like the probes). */
async function serverVersion(fetch: FetchLike, server: string): Promise<string | undefined> {
  try {
    const r = await get(fetch, `${server}/api/v1/openapi.json`, 10_000);
    if (!r.ok) return undefined;
    const doc = jsonOf<{ info?: { version?: unknown } }>(await r.text());
    return typeof doc?.info?.version === 'string' ? doc.info.version : undefined;
  } catch {
    return undefined;
  }
}

async function agentsCheck(client: ApiClient): Promise<Check> {
  const agents = (await client.listAll<AgentRow>('/agents')).filter((a) => !a.revokedAt);
  if (agents.length === 0) {
    return {
      name: 'agents',
      status: 'ok',
      detail: 'no agents registered yet (gantry agent token create, then gantry agent run on a host)',
    };
  }
  const late = agents.filter((a) => a.status !== 'online');
  if (late.length === 0) return { name: 'agents', status: 'ok', detail: `${agents.length} online` };
  const describe = (a: AgentRow) =>
    `${a.name} ${a.status}${a.lastHeartbeat ? ` (last heartbeat ${a.lastHeartbeat})` : ' (never sent a heartbeat)'}`;
  return {
    name: 'agents',
    status: late.some((a) => a.status === 'offline') ? 'fail' : 'warn',
    detail: `${agents.length - late.length} of ${agents.length} online; ${late.map(describe).join('; ')}`,
    fix: 'on each host named: systemctl status gantry-agent and journalctl -u gantry-agent (is it running, can it reach the server?); an agent no longer used: gantry agent revoke NAME',
  };
}

async function registryChecks(client: ApiClient): Promise<Check[]> {
  const registries = (await client.listAll<IntegrationRow>('/integrations')).filter((i) => REGISTRY_TYPES.has(i.typeId));
  if (registries.length === 0) return [{ name: 'registries', status: 'ok', detail: 'no registry integrations configured' }];
  const out: Check[] = [];
  for (const r of registries) {
    const name = `registry ${r.name}`;
    try {
      const checked = await client.post<IntegrationRow>(`/integrations/${encodeURIComponent(r.name)}/check`, {});
      out.push(
        checked.healthStatus === 'healthy'
          ? { name, status: 'ok', detail: 'answers (GET /v2/ with its credentials)' }
          : {
              name,
              status: 'fail',
              detail: checked.healthMessage ?? checked.healthStatus,
              fix: `check its URL and credentials (gantry integration get ${r.name}); the server must be allowed to reach a private address (GANTRY_OUTBOUND_ALLOW)`,
            },
      );
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        out.push({
          name,
          status: 'skip',
          detail: `last known health: ${r.healthStatus}${r.healthMessage ? ` (${r.healthMessage})` : ''}; checking it now needs an admin token`,
        });
      } else {
        out.push({ name, status: 'fail', detail: (err as Error).message, fix: `gantry integration get ${r.name}` });
      }
    }
  }
  return out;
}

export function problems(checks: Check[]): number {
  return checks.filter((c) => c.status === 'warn' || c.status === 'fail').length;
}
