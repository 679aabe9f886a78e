// Route matrix (issue 13): every operation of the OpenAPI document, called over HTTP by five kinds of
// caller, gets the expected status; tenant A's rows are unchanged afterwards and no answer to tenant B
// contains any of A's ids.
//
// HOW TO ADD A ROUTE — one line in MATRIX below, keyed 'METHOD /api/v1/path/{param}' exactly as the OpenAPI
// document spells it. The test fails, naming the operation, for an operation without a row and for a row
// whose operation no longer exists.
//
//   'POST /api/v1/things/{ref}/frob': {},                       // defaults from the route's declared access
//   'POST /api/v1/things': { body: (f) => ({ envId: f.env }), other: [404, 422] },   // with overrides
//
// Caller classes (the columns):
//   other  — tenant B's admin, with A's ids in the path and body: must never reach A (404; 403 on platform routes)
//   viewer — a viewer of tenant A: reads 2xx, writes 403
//   none   — no Authorization header: 401 (public routes 200)
//   agent  — a registered agent's credential of tenant A on a user route: 401
//   user   — tenant A's admin's user token on an agent-protocol route: 401
// An expectation is a status, a list of acceptable statuses, or SKIP (not called: e.g. an agent on its own route).
//
// Defaults come from the route's declared access, which the server publishes as `x-gantry-access`:
//   public   → everyone 200
//   agent    → other/viewer/none/user 401; agent SKIP (the agent protocol has tests of its own)
//   platform → other/viewer 403, none/agent 401
//   any      → other 404 if the path names A's resource, else 200; viewer 200; none/agent 401
//   [roles]  → other 404 if the path names A's resource, else 400 (B in its own tenant, with an empty body);
//              viewer 403 (unless 'viewer' is listed); none/agent 401
// `user` is only called on agent routes (on user routes A's admin is not an attacker).
//
// Path parameters are A's fixtures, chosen by the collection the path starts with (PARAMS / BY_COLLECTION);
// a row may set `path` to fill them itself, `query` for a query string, and `body` (default {} for writes).
import { beforeAll, describe, expect, it } from 'vitest';
import { appendPacket } from '../../src/evidence/service.js';
import { ephemeralSigner } from '../../src/evidence/signer.js';
import { withTenant } from '../../src/store/db.js';
import { type HttpResult, type LiveServer, liveServer } from './support.js';

const SKIP = 'skip' as const;
type Expect = number | number[] | typeof SKIP;
type Caller = 'other' | 'viewer' | 'none' | 'agent' | 'user';
const CALLERS: Caller[] = ['other', 'viewer', 'none', 'agent', 'user'];

/** Tenant A's fixtures, by name; filled in beforeAll. */
type F = Record<string, string>;
interface Row extends Partial<Record<Caller, Expect>> {
  body?: (f: F) => unknown;
  query?: (f: F) => string;
  /** Fills the path's parameters itself (default: A's fixture for the collection, see BY_COLLECTION). */
  path?: (f: F) => string;
}

const envTarget = (f: F) => ({ releaseId: f.release, environmentId: f.env });
const promo = (f: F) => ({ releaseId: f.release, targetEnvironmentId: f.env });
const rolloutSpec = (f: F) => ({
  name: 'matrix-ab',
  kind: 'ab',
  environment: f.env,
  routerTarget: f.targets,
  router: { type: 'nginx', path: '/etc/nginx/gantry/matrix.json' },
  variations: [
    { name: 'a', release: f.release, servers: [{ host: '10.0.0.1', port: 80 }] },
    { name: 'b', release: f.release2, servers: [{ host: '10.0.0.2', port: 80 }] },
  ],
});

// biome-ignore format: one row per line is the point of this table
const MATRIX: Record<string, Row> = {
  'GET /healthz': {},
  'GET /readyz': {},
  'GET /api/v1/whoami': { other: 200 },
  'GET /api/v1/tenants': {},
  'POST /api/v1/tenants': { body: () => ({ name: 'matrix-evil', admin: { username: 'matrix-evil' } }) },
  'GET /api/v1/users': {},
  'POST /api/v1/users': { body: (f) => ({ username: f.viewerName, roles: ['admin'] }), other: 409 },
  'GET /api/v1/users/{id}': {},
  'PATCH /api/v1/users/{id}': { body: () => ({ displayName: 'pwned' }) },
  'DELETE /api/v1/users/{id}': {},
  'GET /api/v1/tokens': {},
  'POST /api/v1/tokens': { body: (f) => ({ name: 'matrix', userId: f.users }), other: 404, viewer: 403 },
  'DELETE /api/v1/tokens/{id}': { viewer: 404 },
  'GET /api/v1/platform/admins': {},
  'POST /api/v1/platform/admins': { body: (f) => ({ username: f.viewerName }) },
  'DELETE /api/v1/platform/admins/{username}': { path: () => '/api/v1/platform/admins/admin' },
  'GET /api/v1/environments': {},
  'POST /api/v1/environments': {},
  'GET /api/v1/environments/{ref}': {},
  'GET /api/v1/environments/{ref}/next-actions': {},
  'GET /api/v1/next-actions': {},
  'PATCH /api/v1/environments/{ref}': { body: () => ({ displayName: 'pwned' }) },
  'DELETE /api/v1/environments/{ref}': {},
  'GET /api/v1/targets': {},
  'POST /api/v1/targets': { body: (f) => ({ name: 'matrix', environmentId: f.env, targetType: 'docker_host', connection: { dockerHost: 'unix:///x.sock' } }), other: [404, 422] },
  'GET /api/v1/targets/{ref}': {},
  'GET /api/v1/target-summary': {},
  'GET /api/v1/targets/{ref}/history': {},
  'GET /api/v1/targets/{ref}/timeline': {},
  'GET /api/v1/targets/{ref}/at': { query: () => '?time=2026-12-01T10:00:00Z' },
  'GET /api/v1/digests/{digest}/history': { path: () => `/api/v1/digests/sha256:${'0'.repeat(64)}/history`, viewer: 404, other: 404 },
  'PATCH /api/v1/targets/{ref}': { body: () => ({ labels: { pwned: 'yes' } }) },
  'DELETE /api/v1/targets/{ref}': {},
  'GET /api/v1/agents': {},
  'GET /api/v1/agents/{ref}': {},
  'POST /api/v1/agents/tokens': { other: 201 },
  'POST /api/v1/agents/{ref}/revoke': {},
  'GET /api/v1/components': {},
  'POST /api/v1/components': {},
  'GET /api/v1/components/{ref}': {},
  'PATCH /api/v1/components/{ref}': { body: () => ({ displayName: 'pwned' }) },
  'DELETE /api/v1/components/{ref}': {},
  'GET /api/v1/integrations': {},
  'POST /api/v1/integrations': {},
  'GET /api/v1/integrations/{ref}': {},
  'PATCH /api/v1/integrations/{ref}': { body: () => ({ config: { url: 'http://pwned.example' } }) },
  'DELETE /api/v1/integrations/{ref}': {},
  'POST /api/v1/components/{ref}/sync-versions': {},
  'GET /api/v1/components/{ref}/versions': {},
  'POST /api/v1/integrations/{ref}/check': {},
  'GET /api/v1/releases': {},
  'POST /api/v1/releases': { body: (f) => ({ name: 'matrix', components: [{ component: f.componentName, digest: `sha256:${'c'.repeat(64)}` }] }), other: [404, 422] },
  'GET /api/v1/releases/diff': { query: (f) => `?from=${f.release}&to=${f.release2}` },
  'GET /api/v1/releases/{ref}/diff/{other}': {},
  'GET /api/v1/releases/{ref}': {},
  'PATCH /api/v1/releases/{ref}': { body: () => ({ displayName: 'pwned' }) },
  'DELETE /api/v1/releases/{ref}': {},
  'POST /api/v1/releases/{ref}/ready': {},
  'POST /api/v1/releases/{ref}/deprecate': {},
  'POST /api/v1/agents/register': {},
  'POST /api/v1/agents/{ref}/heartbeat': {},
  'POST /api/v1/agents/{ref}/rotate': {},
  'POST /api/v1/agents/{ref}/tasks/lease': {},
  'POST /api/v1/agents/{ref}/tasks/{taskId}/start': {},
  'POST /api/v1/agents/{ref}/tasks/start': {},
  'POST /api/v1/agents/{ref}/tasks/report': {},
  'POST /api/v1/agents/{ref}/tasks/{taskId}/logs': {},
  'POST /api/v1/agents/{ref}/tasks/{taskId}/report': {},
  'POST /api/v1/agents/{ref}/observations': {},
  'POST /api/v1/agents/{ref}/traffic/{changeId}/report': {},
  'POST /api/v1/rollouts': { body: rolloutSpec, other: 404 },
  'GET /api/v1/rollouts': {},
  'GET /api/v1/rollouts/{id}': {},
  'POST /api/v1/rollouts/{id}/advance': {},
  'POST /api/v1/rollouts/{id}/promote': {},
  'POST /api/v1/rollouts/{id}/rollback': {},
  'POST /api/v1/rollouts/{id}/abort': {},
  'POST /api/v1/deployments': { body: envTarget, other: [404, 422] },
  'POST /api/v1/deployments/plan': { body: (f: F) => ({ release: f.release, environment: f.env }), other: [404, 422] },
  'GET /api/v1/deployments': {},
  'GET /api/v1/deployments/{id}': {},
  'GET /api/v1/deployments/{id}/logs': {},
  'GET /api/v1/deployments/{id}/tasks': {},
  'GET /api/v1/deployments/{id}/artifacts/{name}': { viewer: 404 },
  'POST /api/v1/deployments/{id}/cancel': {},
  'POST /api/v1/deployments/{id}/resume': {},
  'POST /api/v1/deployments/{id}/rollback': {},
  'POST /api/v1/deployments/rollback': { body: (f) => ({ environment: f.env }), other: [404, 422] },
  'POST /api/v1/deployments/{id}/rollback/plan': { viewer: [200, 409] },
  'POST /api/v1/deployments/rollback/plan': { body: (f) => ({ environment: f.env }), viewer: [200, 409], other: [404, 422] },
  'GET /api/v1/deployments/{id}/tasks/{taskId}/attempts': {},
  'GET /api/v1/config-applies': {},
  'POST /api/v1/config-applies': {},
  'GET /api/v1/config-applies/{id}': {},
  'GET /api/v1/notifications': {},
  'GET /api/v1/notifications/{id}': {},
  'POST /api/v1/notifications/{id}/resend': {},
  'POST /api/v1/events/ticket': { other: 201, viewer: 201 },
  'GET /api/v1/events/stream': { other: 401, viewer: 401 },   // only a ticket opens it, never the bearer header
  'GET /api/v1/drift': { query: (f) => `?environment=${f.env}`, other: 404 },
  'POST /api/v1/drift/check': { body: (f) => ({ environment: f.env }), other: 404 },
  'GET /api/v1/workflow-step-types': {},
  'GET /api/v1/workflow-templates': {},
  'POST /api/v1/workflow-templates': {},
  'GET /api/v1/workflow-templates/{ref}': {},
  'POST /api/v1/workflow-templates/{ref}/versions': { body: () => ({ nodes: [{ id: 'a', type: 'noop' }] }) },
  'POST /api/v1/workflow-runs': { body: (f) => ({ template: f['workflow-templates'] }), other: 404 },
  'GET /api/v1/workflow-runs': {},
  'GET /api/v1/workflow-runs/{id}': {},
  'POST /api/v1/workflow-runs/{id}/cancel': {},
  'POST /api/v1/workflow-runs/{id}/steps/{nodeId}/events': { body: () => ({ event: 'approve', payload: {} }) },
  'GET /api/v1/evidence': { query: (f) => `?promotion=${f.promotions}`, other: 200 },
  'GET /api/v1/evidence/export': { query: (f) => `?promotion=${f.promotions}`, other: 200 },
  'GET /api/v1/evidence/keys': {},
  'GET /api/v1/evidence/{id}': {},
  'GET /api/v1/gates': {},
  'POST /api/v1/promotions': { body: promo, other: [404, 422] },
  'GET /api/v1/promotions': {},
  'POST /api/v1/promotions/preview': { body: promo, other: [404, 422] },
  'GET /api/v1/promotions/{id}': {},
  'GET /api/v1/promotions/{id}/gates': {},
  'GET /api/v1/promotions/{id}/plan': {},
  'GET /api/v1/promotions/{id}/why': {},
  'POST /api/v1/promotions/{id}/approve': {},
  'POST /api/v1/promotions/{id}/reject': { body: () => ({ comment: 'no' }) },
  'POST /api/v1/promotions/{id}/cancel': {},
  'POST /api/v1/promotions/{id}/overrides': { body: () => ({ gate: 'freeze_window', reason: 'matrix override reason' }), viewer: 403 },
  'GET /api/v1/plugins': {},
  'POST /api/v1/plugins': { body: () => ({ archive: 'AAAA' }) },
  'GET /api/v1/plugins/{id}': { viewer: 404 },
  'POST /api/v1/plugins/{id}/enable': {},
  'POST /api/v1/plugins/{id}/disable': {},
  'GET /api/v1/plugin-instances': {},
  'POST /api/v1/plugin-instances': { body: () => ({ pluginId: 'matrix.none' }), other: 404 },
  'GET /api/v1/plugin-instances/{pluginId}': { viewer: 404 },
  'PATCH /api/v1/plugin-instances/{pluginId}': { body: () => ({ enabled: false }) },
  'DELETE /api/v1/plugin-instances/{pluginId}': {},
  'GET /api/v1/secrets': { other: 200 },
  // B writing or deleting a secret of the same name acts on B's own store; the snapshot proves A's is untouched.
  'PUT /api/v1/secrets/{name}': { path: () => '/api/v1/secrets/matrix-secret', body: () => ({ value: 'b-value' }), other: [200, 201] },
  'DELETE /api/v1/secrets/{name}': { path: () => '/api/v1/secrets/matrix-secret', other: [204, 404] },
};

/** Which of A's fixtures fills `{ref}`/`{id}` of a path, by the collection it starts with. */
const BY_COLLECTION: Record<string, string> = {
  users: 'users',
  tokens: 'tokens',
  environments: 'env',
  targets: 'targets',
  agents: 'agents',
  components: 'components',
  integrations: 'integrations',
  releases: 'release',
  deployments: 'deployments',
  'workflow-templates': 'workflow-templates',
  'workflow-runs': 'workflow-runs',
  evidence: 'evidence',
  promotions: 'promotions',
  notifications: 'notifications',
  plugins: 'plugin',
  'plugin-instances': 'plugin',
  rollouts: 'rollouts',
  'config-applies': 'applies',
};
/** Other parameters, by name. */
const PARAMS: Record<string, string> = {
  other: 'release2',
  taskId: 'task',
  nodeId: 'node',
  name: 'artifact',
  pluginId: 'plugin',
  changeId: 'change',
};

type Access = 'public' | 'agent' | 'any' | 'platform' | string[];
interface Op {
  key: string;
  method: string;
  path: string;
  access: Access;
}

function defaults(op: Op, namesA: boolean): Record<Caller, Expect> {
  const a = op.access;
  if (a === 'public') return { other: 200, viewer: 200, none: 200, agent: 200, user: SKIP };
  if (a === 'agent') return { other: 401, viewer: 401, none: 401, agent: SKIP, user: 401 };
  if (a === 'platform') return { other: 403, viewer: 403, none: 401, agent: 401, user: SKIP };
  if (a === 'any') return { other: namesA ? 404 : 200, viewer: 200, none: 401, agent: 401, user: SKIP };
  return { other: namesA ? 404 : 400, viewer: a.includes('viewer') ? 200 : 403, none: 401, agent: 401, user: SKIP };
}

let s: LiveServer;
const f: F = {};
const tokens: Record<Caller, string | undefined> = {
  other: undefined,
  viewer: undefined,
  none: undefined,
  agent: undefined,
  user: undefined,
};
let ops: Op[] = [];
/** Every id of tenant A that must never appear in an answer to tenant B. */
let idsOfA: string[] = [];

const api = async (method: string, url: string, token: string | undefined, body?: unknown) => {
  const r = await s.call(method, `/api/v1${url}`, token, body);
  if (r.status >= 300) throw new Error(`fixture ${method} ${url}: ${r.status} ${r.text}`);
  return r.body;
};

/** Every row of tenant A, as the superuser sees it (volatile bookkeeping columns left out). */
async function snapshotA(): Promise<Record<string, unknown[]>> {
  const tables = await s.db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
  );
  const out: Record<string, unknown[]> = {};
  for (const { table_name: t } of tables.rows) {
    const r = await s.db.query(`SELECT * FROM ${t} WHERE tenant_id = $1 ORDER BY 1`, [f.tenant]);
    out[t] = r.rows.map(({ last_used_at: _u, ...rest }) => rest);
  }
  out.tenants = (await s.db.query('SELECT * FROM tenants WHERE id = $1', [f.tenant])).rows;
  out.users = (
    await s.db.query(
      `SELECT * FROM users u WHERE u.home_tenant_id = $1
          OR EXISTS (SELECT 1 FROM role_bindings rb WHERE rb.user_id = u.id AND rb.tenant_id = $1) ORDER BY id`,
      [f.tenant],
    )
  ).rows;
  return out;
}

beforeAll(async () => {
  s = await liveServer();
  const root = s.rootToken; // admin of tenant A ("default") and platform admin
  f.tenant = (await api('GET', '/whoami', root)).tenant.id;
  const b = await api('POST', '/tenants', root, { name: 'matrix-b', admin: { username: 'matrix-b-admin' } });
  tokens.other = b.adminToken;
  const viewer = await api('POST', '/users', root, { username: 'matrix-viewer', roles: ['viewer'] });
  f.viewerName = 'matrix-viewer';
  tokens.viewer = (await api('POST', '/tokens', root, { name: 'viewer', userId: viewer.id })).secret;
  const member = await api('POST', '/users', root, { username: 'matrix-member', roles: ['release_manager'] });
  f.users = member.id;
  const adminTok = await api('POST', '/tokens', root, { name: 'matrix-admin' });
  f.tokens = adminTok.token.id;
  tokens.user = adminTok.secret;

  // One approval required: the matrix's promotion waits for it (one with nothing to wait for is decided
  // when requested), so approve, reject, cancel and overrides meet an open promotion.
  f.env = (await api('POST', '/environments', root, { name: 'matrix-prod', requiredApprovals: 1 })).id;
  f.targets = (
    await api('POST', '/targets', root, {
      name: 'matrix-host',
      environmentId: f.env,
      targetType: 'docker_host',
      connection: { dockerHost: 'unix:///x.sock' },
    })
  ).id;
  const join = await api('POST', '/agents/tokens', root, { expiresInSeconds: 600 });
  const reg = await s.call(
    'POST',
    '/api/v1/agents/register',
    undefined,
    { name: 'matrix-agent', capabilities: { executors: ['docker_host'] } },
    {
      'x-agent-token': join.token,
    },
  );
  expect(reg.status, reg.text).toBe(201);
  f.agents = reg.body.agentId;
  tokens.agent = reg.body.credential;
  f.componentName = 'matrix-app';
  f.components = (await api('POST', '/components', root, { name: f.componentName, imageRepository: 'r.example.com/app' })).id;
  f.integrations = (
    await api('POST', '/integrations', root, {
      // A registry, not a notification channel: a notification sent later would change its health row.
      typeId: 'oci_registry',
      name: 'matrix-registry',
      config: { url: 'https://registry.example.com' },
    })
  ).id;
  await api('PUT', '/secrets/matrix-secret', root, { value: 'matrix-secret-value' });
  for (const [key, d] of [
    ['release', 'a'],
    ['release2', 'b'],
  ] as const) {
    const r = await api('POST', '/releases', root, {
      name: `matrix-${key}`,
      components: [{ component: f.componentName, digest: `sha256:${d.repeat(64)}` }],
    });
    await api('POST', `/releases/${r.id}/ready`, root);
    f[key] = r.id;
  }
  const dep = await api('POST', '/deployments', root, { releaseId: f.release, environmentId: f.env });
  f.deployments = dep.id;
  f.task = dep.tasks[0].id;
  f.artifact = 'compose.yaml';
  const tpl = await api('POST', '/workflow-templates', root, { name: 'matrix-flow', nodes: [{ id: 'wait', type: 'noop' }], edges: [] });
  f['workflow-templates'] = tpl.name;
  f.node = 'wait';
  f['workflow-runs'] = (await api('POST', '/workflow-runs', root, { template: tpl.name, inputs: {} })).id;
  f.promotions = (await api('POST', '/promotions', root, { releaseId: f.release2, targetEnvironmentId: f.env, reason: 'matrix' })).id;
  f.rollouts = (await api('POST', '/rollouts', root, rolloutSpec(f))).id;
  f.change = (await s.db.query<{ id: string }>('SELECT id FROM traffic_changes WHERE rollout_id = $1', [f.rollouts])).rows[0]!.id;
  // The server's sweep looks at the new rollout once (its change waits for a router agent), then leaves it be.
  for (let i = 0; i < 100; i++) {
    const r = await s.db.query('SELECT 1 FROM progressive_rollouts WHERE id = $1 AND next_check_at IS NULL', [f.rollouts]);
    if (r.rows.length) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const packet = await withTenant(s.db, f.tenant as string, (tx) =>
    appendPacket(tx, ephemeralSigner(), {
      tenantId: f.tenant!,
      promotionId: f.promotions!,
      packetType: 'release_decision',
      content: { environment: { id: f.env, name: 'matrix-prod' }, matrix: true },
    }),
  );
  f.evidence = packet.id;
  // A dead letter of A's (no channel delivers it while the matrix runs).
  f.notifications = (
    await s.db.query<{ id: string }>(
      `INSERT INTO notifications (tenant_id, event_id, event_type, subject, data, occurred_at, channel_kind, channel_key, channel, status)
       VALUES ($1, gen_random_uuid(), 'promotion.requested', $2, '{}', now(), 'plugin', 'plugin:matrix/none', 'matrix/none', 'dead') RETURNING id`,
      [f.tenant, `promotion:${f.promotions}`],
    )
  ).rows[0]!.id;
  f.plugin = 'matrix.none';
  const sha = 'a'.repeat(64);
  f.applies = (
    await api('POST', '/config-applies', root, {
      sha256: sha,
      files: [{ path: 'gantry.yaml', sha256: sha }],
      created: 1,
      changed: 0,
      deleted: 0,
      changes: [],
    })
  ).id;

  idsOfA = [
    f.tenant,
    f.users,
    viewer.id,
    f.tokens,
    f.env,
    f.targets,
    f.agents,
    f.components,
    f.integrations,
    f.release,
    f.release2,
    f.deployments,
    f.task,
    tpl.id,
    f['workflow-runs'],
    f.promotions,
    f.evidence,
    f.notifications,
    f.applies,
  ].filter((x): x is string => typeof x === 'string');
  expect(idsOfA).toHaveLength(19);

  const doc = (await s.call('GET', '/api/v1/openapi.json', undefined)).body as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
  ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      key: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase(),
      path,
      access: (op['x-gantry-access'] ?? 'public') as Access,
    })),
  );
});

function urlOf(op: Op, row: Row): { url: string; namesA: boolean } {
  const collection = op.path.replace(/^\/api\/v1\//, '').split('/')[0]!;
  let namesA = false;
  const path = row.path
    ? row.path(f)
    : op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const key = name === 'ref' || name === 'id' ? BY_COLLECTION[collection] : PARAMS[name];
        const v = key ? f[key] : undefined;
        if (!v) throw new Error(`${op.key}: no fixture for {${name}}; add one to BY_COLLECTION or PARAMS, or give the row a path`);
        namesA = true;
        return encodeURIComponent(v);
      });
  return { url: `${path}${row.query ? row.query(f) : ''}`, namesA: namesA || Boolean(row.query) || Boolean(row.path) };
}

describe('route matrix', () => {
  it('has one row for every operation of the OpenAPI document, and no row for an operation that is gone', () => {
    const documented = new Set(ops.map((o) => o.key));
    const missing = [...documented].filter((k) => !(k in MATRIX));
    const stale = Object.keys(MATRIX).filter((k) => !documented.has(k));
    expect(missing, 'operations without a row in MATRIX (add one line each)').toEqual([]);
    expect(stale, 'rows in MATRIX for operations the API no longer has').toEqual([]);
    expect(ops.length).toBeGreaterThan(90);
  });

  it('answers every caller class as expected, leaks none of A’s ids to B and leaves A’s rows unchanged', async () => {
    const before = await snapshotA();
    const failures: string[] = [];
    const leaks: string[] = [];
    let calls = 0;
    for (const op of ops) {
      const row = MATRIX[op.key];
      if (!row) continue; // reported by the test above
      const { url, namesA } = urlOf(op, row);
      const expected = { ...defaults(op, namesA), ...pick(row) };
      const hasBody = op.method !== 'GET' && op.method !== 'DELETE';
      const body = hasBody ? (row.body?.(f) ?? {}) : undefined;
      for (const c of CALLERS) {
        const want = expected[c];
        if (want === SKIP) continue;
        const r: HttpResult = await s.call(op.method, url, tokens[c], body);
        calls++;
        const ok = Array.isArray(want) ? want.includes(r.status) : r.status === want;
        if (!ok || r.status >= 500)
          failures.push(`${op.key} as ${c}: expected ${JSON.stringify(want)}, got ${r.status} ${r.text.slice(0, 200)}`);
        if (c === 'other') {
          // An id B sent itself may be echoed back (e.g. a filter); any other id of A is a leak.
          const sent = url + JSON.stringify(body ?? null);
          const leaked = idsOfA.filter((id) => r.text.includes(id) && !sent.includes(id));
          if (leaked.length) leaks.push(`${op.key} as other: answer contains A's ${leaked.join(', ')}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(leaks).toEqual([]);
    expect(calls).toBeGreaterThan(300);
    expect(await snapshotA()).toEqual(before);
  });

  it('lists of tenant B contain none of A’s rows afterwards', async () => {
    let lists = 0;
    for (const op of ops.filter((o) => o.method === 'GET' && !o.path.includes('{') && o.access === 'any')) {
      const r = await s.call('GET', op.path, tokens.other);
      if (r.status !== 200) continue; // routes that need a query are covered by the matrix
      lists++;
      expect(
        idsOfA.filter((id) => r.text.includes(id)),
        op.key,
      ).toEqual([]);
    }
    expect(lists).toBeGreaterThan(15);
  });
});

function pick(row: Row): Partial<Record<Caller, Expect>> {
  const out: Partial<Record<Caller, Expect>> = {};
  for (const c of CALLERS) if (row[c] !== undefined) out[c] = row[c];
  return out;
}
