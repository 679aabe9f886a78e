// Fuzz test over every operation of the OpenAPI document of a real listening server (issue 13): schema-shaped
// requests with one field broken at a time, plus malformed, mistyped and oversized bodies and broken path and
// query values. No answer may be a 5xx, every refusal is a problem document, and the server stays healthy.
// Seeded: GANTRY_FUZZ_SEED=<n> replays a run (the seed is printed); GANTRY_FUZZ_ROUNDS sets the rounds (default 3);
// GANTRY_FUZZ_VERBOSE=1 prints the statuses of each operation.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPlugin } from '../../src/cli/plugin-commands.js';
import type { App } from '../../src/http/types.js';
import { buildApp } from '../../src/server.js';
import { bootstrap } from '../../src/tenancy/service.js';
import { freePort } from '../e2e/support.js';
import { createTestDb, loopbackOutbound, type TestDb } from '../helpers.js';
import {
  BAD_CONTENT_TYPES,
  BAD_SEGMENTS,
  BODY_MUTATIONS,
  badQueryValues,
  brokenValue,
  FIELD_MUTATIONS,
  type Fixtures,
  key,
  MALFORMED,
  type Mutation,
  nodes,
  type Path,
  REMOVE,
  Rng,
  type Schema,
  serialize,
  setAt,
  shaped,
} from './fuzz-gen.js';
import { guardOutbound, type NetGuard, type Sink, startSink } from './fuzz-net.js';

const SEED = process.env.GANTRY_FUZZ_SEED ? Number(process.env.GANTRY_FUZZ_SEED) : randomBytes(4).readUInt32BE(0);
const ROUNDS = Number(process.env.GANTRY_FUZZ_ROUNDS ?? 3);
const UPSTREAM_CODES = new Set(['upstream_unavailable', 'upstream_timeout', 'registry_unreachable', 'registry_timeout']);

interface Operation {
  method: string;
  path: string;
  tags: string[];
  params: { name: string; in: string; required: boolean; schema: Schema }[];
  body: Schema | undefined;
}

interface Planned {
  op: Operation;
  mutation: Mutation;
  detail: string;
  url: string;
  contentType?: string;
  body?: string;
}

interface Outcome {
  planned: Planned;
  status: number;
  text: string;
  contentType: string;
  serverLog: string;
  blocked: string[];
}

let t: TestDb;
let app: App;
let base: string;
let adminToken: string;
let sink: Sink;
let guard: NetGuard;
const serverErrors = new Map<string, string>();
const agent = { id: '', credential: '' };
const joinTokens: string[] = [];
let pluginArchive = '';

async function api(method: string, path: string, body?: unknown, token = adminToken): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Creates the rows requests refer to; every step must succeed, or the fuzz would only ever see 404s. */
async function createFixtures(): Promise<Fixtures> {
  const ok = async (method: string, path: string, body?: unknown, token?: string) => {
    const r = await api(method, path, body, token);
    if (r.status >= 300) throw new Error(`fixture ${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const dev = await ok('POST', '/api/v1/environments', { name: 'fz-dev' });
  const prod = await ok('POST', '/api/v1/environments', { name: 'fz-prod', requiredApprovals: 1 });
  const registry = await ok('POST', '/api/v1/integrations', {
    name: 'fz-registry',
    typeId: 'oci_registry',
    config: { url: `http://${sink.host}`, insecure: true },
  });
  const hook = await ok('POST', '/api/v1/integrations', {
    name: 'fz-hook',
    typeId: 'notification_webhook',
    config: { url: `http://${sink.host}/notify` },
  });
  const component = await ok('POST', '/api/v1/components', {
    name: 'fz-api',
    imageRepository: `${sink.host}/fuzz/app`,
    registryIntegrationId: registry.id,
  });
  const target = await ok('POST', '/api/v1/targets', {
    name: 'fz-t1',
    environmentId: dev.id,
    targetType: 'docker_host',
    connection: { dockerHost: `tcp://${sink.host}` },
  });
  const digest = `sha256:${'cd'.repeat(32)}`;
  const draft = await ok('POST', '/api/v1/releases', { name: 'fz-draft', components: [{ component: 'fz-api', digest }] });
  const ready = await ok('POST', '/api/v1/releases', { name: 'fz-ready', components: [{ component: 'fz-api', digest }] });
  await ok('POST', `/api/v1/releases/${ready.id}/ready`);
  const template = await ok('POST', '/api/v1/workflow-templates', {
    name: 'fz-flow',
    nodes: [
      { id: 'first', type: 'noop', config: {} },
      { id: 'second', type: 'set_outputs', config: { a: 1 } },
    ],
    edges: [{ from: 'first', to: 'second' }],
  });
  const run = await ok('POST', '/api/v1/workflow-runs', { template: 'fz-flow' });
  const victim = await ok('POST', '/api/v1/users', { username: 'fz-victim', roles: ['viewer'] });
  const victimToken = await ok('POST', '/api/v1/tokens', { name: 'fz-victim', userId: victim.id });
  for (let i = 0; i < 3 + ROUNDS * 2; i++) joinTokens.push((await ok('POST', '/api/v1/agents/tokens', {})).token);
  const register = async (name: string) => {
    const res = await fetch(`${base}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-token': joinTokens.pop()! },
      body: JSON.stringify({ name, version: '1.0.0', capabilities: { executors: ['docker_host'] } }),
    });
    const body = (await res.json()) as { agentId: string; credential: string };
    if (res.status !== 201) throw new Error(`fixture agent ${name}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const protocolAgent = await register('fz-agent');
  agent.id = protocolAgent.agentId;
  agent.credential = protocolAgent.credential;
  const otherAgent = await register('fz-agent-admin');
  const deployment = await ok('POST', '/api/v1/deployments', { releaseId: 'fz-ready', environmentId: 'fz-dev' });
  const promotion = await ok('POST', '/api/v1/promotions', { releaseId: 'fz-ready', targetEnvironmentId: 'fz-dev', reason: 'fuzz' });
  const evidence = await ok('GET', '/api/v1/evidence?limit=5');
  pluginArchive = (await packPlugin(new URL('../../examples/plugins/change-window', import.meta.url).pathname)).toString('base64');
  const plugin = await ok('POST', '/api/v1/plugins', { archive: pluginArchive, enable: false });
  await ok('POST', '/api/v1/plugin-instances', { pluginId: 'acme-window', config: { timeZone: 'UTC' }, enabled: false });
  const both = (x: { id: string; name?: string }) => (x.name ? [x.id, x.name] : [x.id]);
  return {
    sink: sink.host,
    byName: {
      environment: [...both(dev), ...both(prod)],
      targetEnvironment: [...both(dev), ...both(prod)],
      release: [...both(ready), ...both(draft)],
      from: [ready.name, draft.name],
      to: [ready.name, draft.name],
      component: both(component),
      target: both(target),
      template: both(template),
      promotionTemplate: [template.name],
      integration: [...both(registry), ...both(hook)],
      registryIntegration: [registry.id],
      user: [victim.id],
      agent: [otherAgent.agentId, 'fz-agent-admin'],
      promotion: [promotion.id],
      deployment: [deployment.id],
      run: [run.id],
      evidence: (evidence.items as { id: string }[]).map((e) => e.id),
      token: [victimToken.id],
      nodeId: ['first', 'second'],
      taskId: [],
      pluginId: [plugin.pluginId, plugin.id],
      plugin: [plugin.pluginId, plugin.id],
      other: [ready.name, draft.name],
    },
  };
}

/** Bodies the handlers accept, for operations whose valid bodies depend on more than the JSON Schema says. */
const EXAMPLES: Record<string, (rng: Rng) => unknown> = {
  'POST /api/v1/integrations': (rng) => ({
    name: `fz-i-${rng.int(0, 1e9)}`,
    typeId: 'notification_webhook',
    config: { url: `http://${sink.host}/notify`, events: ['promotion.approved'] },
  }),
  'PATCH /api/v1/integrations/{ref}': () => ({ config: { url: `http://${sink.host}`, insecure: true } }),
  'POST /api/v1/releases': (rng) => ({
    name: `fz-r-${rng.int(0, 1e9)}`,
    components: [{ component: 'fz-api', digest: `sha256:${'cd'.repeat(32)}` }],
    sourceRef: { repository: 'https://git.example.com/shop/api', commitSha: 'abcdef1', branch: 'main' },
  }),
  'PATCH /api/v1/releases/{ref}': () => ({ displayName: 'Fuzz release' }),
  'POST /api/v1/workflow-templates': (rng) => ({
    name: `fz-w-${rng.int(0, 1e9)}`,
    inputs: { who: { type: 'string', required: false } },
    nodes: [
      { id: 'a', type: 'noop', config: {} },
      { id: 'b', type: 'set_outputs', config: { who: '${{ inputs.who }}' } },
    ],
    edges: [{ from: 'a', to: 'b' }],
  }),
  'POST /api/v1/workflow-templates/{ref}/versions': () => ({
    nodes: [{ id: 'only', type: 'noop', config: {} }],
    edges: [],
  }),
  'POST /api/v1/deployments/rollback': () => ({ environment: 'fz-dev' }),
  'POST /api/v1/workflow-runs/{id}/steps/{nodeId}/events': () => ({ event: 'approve' }),
  'POST /api/v1/plugins': () => ({ archive: pluginArchive, enable: false }),
  'POST /api/v1/plugin-instances': () => ({ pluginId: 'acme-window', config: { timeZone: 'Europe/Berlin' } }),
  'PATCH /api/v1/plugin-instances/{pluginId}': () => ({ config: { timeZone: 'UTC' }, enabled: false }),
  'PATCH /api/v1/users/{id}': () => ({ displayName: 'Fuzz victim', roles: ['viewer'] }),
};

/** Which fixture a path parameter names, from the collection before it (/environments/{ref} → environment). */
function pathHint(op: Operation, param: string, fx: Fixtures): string[] {
  if (op.tags.includes('agent protocol') && param === 'ref') return [agent.id];
  const segs = op.path.split('/');
  const at = segs.indexOf(`{${param}}`);
  const collection = segs[at - 1] ?? '';
  const byCollection: Record<string, string> = {
    environments: 'environment',
    targets: 'target',
    agents: 'agent',
    components: 'component',
    integrations: 'integration',
    releases: 'release',
    'workflow-templates': 'template',
    users: 'user',
    tokens: 'token',
    deployments: 'deployment',
    'workflow-runs': 'run',
    evidence: 'evidence',
    promotions: 'promotion',
    plugins: 'plugin',
    'plugin-instances': 'pluginId',
    steps: 'nodeId',
    tasks: 'taskId',
    diff: 'other',
  };
  const hint = byCollection[collection] ?? param;
  return fx.byName[hint] ?? [];
}

function operations(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      out.push({
        method: method.toUpperCase(),
        path,
        tags: op.tags ?? [],
        params: (op.parameters ?? []).map((p: any) => ({ name: p.name, in: p.in, required: Boolean(p.required), schema: p.schema ?? {} })),
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return out;
}

/** One request for an operation: schema-shaped, with the given mutation applied to one place. */
function plan(op: Operation, mutation: Mutation, fx: Fixtures, rng: Rng): Planned {
  const path: Record<string, string> = {};
  for (const p of op.params.filter((x) => x.in === 'path')) {
    const known = pathHint(op, p.name, fx);
    const raw = known.length > 0 && rng.chance(0.8) ? rng.pick(known) : String(shaped(p.schema, fx, rng).value);
    path[p.name] = encodeURIComponent(raw);
  }
  const query: [string, string][] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    // A cursor is only valid as the server issued it; broken ones come from the query mutation.
    if (!p.required && (p.name === 'cursor' || rng.chance(0.5))) continue;
    const v = shaped(p.schema, fx, rng).value;
    const hint = fx.byName[p.name];
    query.push([p.name, encodeURIComponent(String(hint && hint.length > 0 && rng.chance(0.7) ? rng.pick(hint) : v))]);
  }
  let body = op.body ? shaped(op.body, fx, rng) : undefined;
  const example = EXAMPLES[`${op.method} ${op.path}`];
  if (body && example && rng.chance(0.5)) {
    // Start from a body the handler accepts (the schema alone cannot express type-specific config); still shaped.
    const value = example(rng);
    body = { value, schemas: shaped(op.body!, fx, rng).schemas };
  }
  let bodyText: string | undefined = body ? serialize(body.value) : undefined;
  let contentType: string | undefined = body ? 'application/json' : undefined;
  let detail = '';

  const breakPath = () => {
    const names = Object.keys(path);
    if (names.length === 0) return false;
    const name = rng.pick(names);
    path[name] = rng.pick(BAD_SEGMENTS);
    detail = `params.${name}=${path[name]!.slice(0, 60)}`;
    return true;
  };
  const breakQuery = () => {
    const declared = op.params.filter((x) => x.in === 'query').map((x) => x.name);
    const name = declared.length > 0 && rng.chance(0.85) ? rng.pick(declared) : 'fuzzUnknown';
    const value = rng.pick(badQueryValues(rng));
    const i = query.findIndex(([k]) => k === name);
    if (i >= 0) query.splice(i, 1);
    query.push([name, value]);
    if (rng.chance(0.15)) query.push([name, value]); // repeated: arrives as an array
    detail = `querystring.${name}=${value.slice(0, 60)}`;
  };

  switch (mutation) {
    case 'valid':
      break;
    case 'path':
      if (!breakPath()) breakQuery();
      break;
    case 'query':
      breakQuery();
      break;
    case 'malformed_json':
      bodyText = rng.pick(MALFORMED);
      contentType = 'application/json';
      detail = JSON.stringify(bodyText);
      break;
    case 'content_type':
      contentType = rng.pick(BAD_CONTENT_TYPES);
      bodyText ??= '{}';
      detail = contentType;
      break;
    case 'oversized':
      bodyText = JSON.stringify({ ...(body?.value as object), fuzzPadding: 'x'.repeat(1024 * 1024 + rng.int(1, 4096)) });
      contentType = 'application/json';
      detail = `${bodyText.length} bytes`;
      break;
    default: {
      if (!body || rng.chance(0.15)) {
        // Nothing to break in a body: break a path or query value the way this mutation would.
        if (!(rng.chance(0.5) && breakPath())) breakQuery();
        break;
      }
      const all = nodes(body.value);
      let target: { path: Path; value: unknown };
      let value: unknown;
      if (mutation === 'unknown_key' || mutation === 'missing') {
        const objects = all.filter((n) => n.value && typeof n.value === 'object' && !Array.isArray(n.value));
        target = objects.length > 0 ? rng.pick(objects) : all[0]!;
        const obj = (target.value ?? {}) as Record<string, unknown>;
        if (mutation === 'unknown_key') {
          const k = rng.pick(['fuzzUnknown', 'constructor', '', 'toString', 'ID', 'a.b', 'x'.repeat(300)]);
          value = { ...obj, [k]: rng.pick([1, 'x', null, {}]) };
          detail = `unknown key ${JSON.stringify(k.slice(0, 20))} at /${target.path.join('/')}`;
        } else {
          const keys = Object.keys(obj);
          const required = body.schemas.get(key(target.path))?.required ?? [];
          const drop = required.length > 0 && rng.chance(0.7) ? rng.pick(required) : keys.length > 0 ? rng.pick(keys) : undefined;
          value = drop === undefined ? REMOVE : setAt(obj, [drop], REMOVE);
          detail = `removed /${[...target.path, drop ?? ''].join('/')}`;
        }
      } else {
        target = rng.pick(all);
        value = brokenValue(mutation, target.value, body.schemas.get(key(target.path)), rng);
        detail = `/${target.path.join('/')} ← ${mutation}`;
      }
      body = { value: setAt(body.value, target.path, value), schemas: body.schemas };
      bodyText = value === REMOVE && target.path.length === 0 ? '' : serialize(body.value);
    }
  }
  const url = `${op.path.replace(/\{(\w+)\}/g, (_, n: string) => path[n] ?? 'x')}${query.length > 0 ? `?${query.map(([k, v]) => `${k}=${v}`).join('&')}` : ''}`;
  return {
    op,
    mutation,
    detail,
    url,
    ...(bodyText !== undefined ? { body: bodyText } : {}),
    ...(contentType !== undefined ? { contentType } : {}),
  };
}

function authHeaders(op: Operation): Record<string, string> {
  // A join token is spent only by a registration that succeeds (see send()).
  if (op.path === '/api/v1/agents/register') return joinTokens.length > 0 ? { 'x-agent-token': joinTokens.at(-1)! } : {};
  if (op.tags.includes('agent protocol')) return { authorization: `Bearer ${agent.credential}` };
  return { authorization: `Bearer ${adminToken}` };
}

async function send(p: Planned): Promise<Outcome> {
  guard.take();
  const headers: Record<string, string> = { ...authHeaders(p.op), ...(p.contentType ? { 'content-type': p.contentType } : {}) };
  const requestId = `fuzz-${randomBytes(6).toString('hex')}`;
  headers['x-request-id'] = requestId;
  let status = 0;
  let text = '';
  let contentType = '';
  try {
    const res = await fetch(`${base}${p.url}`, {
      method: p.op.method,
      headers,
      ...(p.body !== undefined ? { body: p.body } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    status = res.status;
    contentType = res.headers.get('content-type') ?? '';
    text = await res.text();
  } catch (err) {
    text = `no answer: ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`;
  }
  // The agent credential changes when the fuzz rotates it; keep using the current one.
  if (p.op.path === '/api/v1/agents/register' && status === 201) joinTokens.pop();
  if (p.op.path === '/api/v1/agents/{ref}/rotate' && status === 200)
    agent.credential = (JSON.parse(text) as { credential: string }).credential;
  return { planned: p, status, text, contentType, serverLog: serverErrors.get(requestId) ?? '', blocked: guard.take() };
}

/** A 5xx is acceptable only as a documented upstream failure caused by this test refusing a non-loopback destination. */
function isFailure(o: Outcome): boolean {
  if (o.status === 0) return true;
  if (o.status < 500) return false;
  if ((o.status === 502 || o.status === 504) && o.blocked.length > 0) {
    try {
      return !UPSTREAM_CODES.has((JSON.parse(o.text) as { code?: string }).code ?? '');
    } catch {
      return true;
    }
  }
  return true;
}

function describeOutcome(o: Outcome): string {
  const p = o.planned;
  return [
    `${p.op.method} ${p.op.path} [${p.mutation}] ${p.detail}`,
    `  url: ${p.url.slice(0, 200)}${p.body !== undefined ? `\n  body: ${p.body.slice(0, 200)}` : ''}`,
    `  → ${o.status} ${o.text.slice(0, 300)}`,
    ...(o.serverLog ? [`  server: ${o.serverLog.slice(0, 400)}`] : []),
  ].join('\n');
}

beforeAll(async () => {
  sink = await startSink();
  guard = guardOutbound(await freePort());
  t = await createTestDb();
  adminToken = (await bootstrap(t.db)).token!;
  // Errors the server logs, by request id, so a 5xx is reported with its cause.
  const logger = pino(
    { level: 'error' },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { reqId?: string; err?: { message?: string; stack?: string } };
        if (entry.reqId) serverErrors.set(entry.reqId, `${entry.err?.message ?? ''} ${entry.err?.stack?.split('\n')[1]?.trim() ?? ''}`);
      },
    },
  );
  // The operator allows loopback, where the sink answers, as for every test server (test/helpers.ts).
  app = await buildApp({ db: t.db, logger, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await sink?.close();
  guard?.restore();
});

describe('fuzz over every operation of the OpenAPI document', () => {
  it('never answers 5xx, refuses with problem documents, and stays healthy', { timeout: 600_000 }, async () => {
    process.stderr.write(`fuzz seed: ${SEED} (replay with GANTRY_FUZZ_SEED=${SEED}), rounds: ${ROUNDS}\n`);
    // The guard holds: a connection to a documentation address (TEST-NET-1) is turned back and recorded.
    await fetch('http://192.0.2.1:8080/').catch(() => undefined);
    expect(guard.take()).toEqual(['192.0.2.1:8080']);
    const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json();
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(90);
    const fx = await createFixtures();
    const rng = new Rng(SEED);

    const planned: Planned[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const op of ops) {
        const kinds: Mutation[] = ['valid', 'path', 'query', ...FIELD_MUTATIONS];
        if (op.body) kinds.push(...BODY_MUTATIONS.filter((k) => k !== 'oversized' || round === 0));
        for (const kind of kinds) planned.push(plan(op, kind, fx, rng));
      }
    }
    // Shuffled, then deletes last: the fixtures stay for the other operations, and deletes still meet real rows.
    for (let i = planned.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [planned[i], planned[j]] = [planned[j]!, planned[i]!];
    }
    planned.sort((a, b) => Number(a.op.method === 'DELETE') - Number(b.op.method === 'DELETE'));

    const outcomes: Outcome[] = [];
    for (const p of planned) outcomes.push(await send(p));

    const byStatus = new Map<string, number>();
    for (const o of outcomes) byStatus.set(String(o.status), (byStatus.get(String(o.status)) ?? 0) + 1);
    const perOp = new Map<string, number>();
    for (const o of outcomes)
      perOp.set(`${o.planned.op.method} ${o.planned.op.path}`, (perOp.get(`${o.planned.op.method} ${o.planned.op.path}`) ?? 0) + 1);
    const blocked = outcomes.flatMap((o) => o.blocked);
    const reached = new Set(
      outcomes.filter((o) => o.status >= 200 && o.status < 300).map((o) => `${o.planned.op.method} ${o.planned.op.path}`),
    );
    process.stderr.write(
      `fuzz seed ${SEED}: ${outcomes.length} requests over ${ops.length} operations; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}; ` +
        `operations answered 2xx at least once: ${reached.size}/${ops.length}; non-loopback destinations refused: ${blocked.length}${blocked.length > 0 ? ` (${[...new Set(blocked)].slice(0, 5).join(', ')})` : ''}; sink answered ${sink.requests}\n` +
        `never 2xx: ${ops
          .map((o) => `${o.method} ${o.path}`)
          .filter((o) => !reached.has(o))
          .join(', ')}\n`,
    );

    if (process.env.GANTRY_FUZZ_VERBOSE) {
      const table = new Map<string, Record<number, number>>();
      for (const o of outcomes) {
        const row = table.get(`${o.planned.op.method} ${o.planned.op.path}`) ?? {};
        row[o.status] = (row[o.status] ?? 0) + 1;
        table.set(`${o.planned.op.method} ${o.planned.op.path}`, row);
      }
      for (const [op, row] of table) process.stderr.write(`  ${op} ${JSON.stringify(row)}\n`);
    }

    // Every operation got every mutation kind, several times over the rounds.
    for (const op of ops) expect(perOp.get(`${op.method} ${op.path}`) ?? 0, `${op.method} ${op.path}`).toBeGreaterThanOrEqual(ROUNDS * 12);
    // Some requests got past validation to the handlers, on existing rows.
    expect(outcomes.filter((o) => o.status >= 200 && o.status < 300).length).toBeGreaterThan(ops.length);

    const failures = outcomes.filter(isFailure);
    expect(failures.map(describeOutcome), `seed ${SEED}: ${failures.length} requests answered 5xx or not at all`).toEqual([]);
    const notProblem = outcomes.filter((o) => o.status >= 400 && !o.contentType.startsWith('application/problem+json'));
    expect(notProblem.map(describeOutcome), `seed ${SEED}: refusals that are not problem documents`).toEqual([]);

    // Healthy afterwards: probes answer, and a normal request still works.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await api('GET', '/api/v1/environments')).status).toBe(200);
    const after = await api('POST', '/api/v1/environments', { name: `fz-after-${SEED}` });
    expect(after.status, JSON.stringify(after.body)).toBe(201);
  });
});
