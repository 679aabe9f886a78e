// Workflow templates and runs through the API: validation names the node, versions, runs with inputs, cancel, events.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});

const post = (body: unknown) => t.call('POST', '/api/v1/workflow-templates', body);

describe('template validation', () => {
  it('rejects a cycle and names the nodes in it', async () => {
    const r = await post({
      name: 'loop',
      nodes: [
        { id: 'a', type: 'noop' },
        { id: 'b', type: 'noop' },
        { id: 'c', type: 'noop' },
      ],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'c', to: 'b' },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('template_invalid');
    expect(r.body.detail).toMatch(/cycle: b → c → b/);
  });

  it('rejects an unknown step type, naming the node', async () => {
    const r = await post({ name: 'unknown', nodes: [{ id: 'deploy_it', type: 'teleport' }] });
    expect(r.status).toBe(400);
    expect(r.body.errors[0]).toEqual({ path: 'body.nodes.0.type', message: 'node "deploy_it" has unknown step type "teleport"' });
  });

  it('rejects edges to unknown nodes and references to undeclared inputs or non-upstream steps', async () => {
    const dangling = await post({ name: 'dangling', nodes: [{ id: 'a', type: 'noop' }], edges: [{ from: 'a', to: 'ghost' }] });
    expect(dangling.status).toBe(400);
    expect(dangling.body.detail).toMatch(/ends at unknown node "ghost"/);
    const refs = await post({
      name: 'refs',
      inputs: { env: { type: 'string' } },
      nodes: [
        { id: 'a', type: 'set_outputs', config: { x: '${{ inputs.region }}' } },
        { id: 'b', type: 'noop', when: 'steps.c.outputs.ok' },
        { id: 'c', type: 'noop' },
      ],
      edges: [{ from: 'a', to: 'b' }],
    });
    expect(refs.status).toBe(400);
    const messages = refs.body.errors.map((e: { message: string }) => e.message);
    expect(messages).toContain('node "a" refers to input "region", which the template does not declare');
    expect(messages).toContain('node "b" refers to node "c", which is not upstream of it');
    const syntax = await post({
      name: 'syntax',
      nodes: [{ id: 'a', type: 'noop', when: 'inputs.x ==' }],
      inputs: { x: { type: 'string' } },
    });
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors[0].path).toBe('body.nodes.0.when');
    expect(syntax.body.errors[0].message).toMatch(/node "a": expression "inputs.x ==" does not parse/);
  });

  it('writes nothing when validation fails', async () => {
    const r = await t.db.query(`SELECT count(*)::int AS n FROM workflow_templates WHERE tenant_id IS NOT NULL`);
    expect(r.rows[0].n).toBe(0);
  });
});

describe('templates and runs', () => {
  it('versions a template; a run pins the version it started with', async () => {
    const v1 = await post({
      name: 'deploy-flow',
      inputs: { who: { type: 'string', required: true } },
      nodes: [{ id: 'wait', type: 'approval_wait', config: { required: 1 } }],
    });
    expect(v1.status).toBe(201);
    expect(v1.body.version).toBe(1);
    const run = await t.call('POST', '/api/v1/workflow-runs', { template: 'deploy-flow', inputs: { who: 'ann' } });
    expect(run.status).toBe(201);
    expect(run.body).toMatchObject({ templateName: 'deploy-flow', templateVersion: 1, status: 'running', inputs: { who: 'ann' } });
    expect(run.body.steps).toEqual([expect.objectContaining({ nodeId: 'wait', status: 'pending', attemptNumber: 1 })]);
    const v2 = await t.call('POST', '/api/v1/workflow-templates/deploy-flow/versions', {
      inputs: { who: { type: 'string', required: true } },
      nodes: [{ id: 'only', type: 'noop' }],
    });
    expect(v2.body.version).toBe(2);
    const got = await t.call('GET', `/api/v1/workflow-runs/${run.body.id}`);
    expect(got.body.templateVersion).toBe(1);
    const old = await t.call('GET', '/api/v1/workflow-templates/deploy-flow?version=1');
    expect(old.body.nodes[0].id).toBe('wait');
    const latest = await t.call('GET', '/api/v1/workflow-templates/deploy-flow');
    expect(latest.body.nodes[0].id).toBe('only');
  });

  it('checks run inputs against the template', async () => {
    const missing = await t.call('POST', '/api/v1/workflow-runs', { template: 'deploy-flow', inputs: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0]).toEqual({ path: 'body.inputs.who', message: 'input "who" is required' });
    const wrong = await t.call('POST', '/api/v1/workflow-runs', { template: 'deploy-flow', inputs: { who: 3, extra: 1 } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['body.inputs.extra', 'body.inputs.who']);
    expect((await t.call('POST', '/api/v1/workflow-runs', { template: 'nope' })).status).toBe(404);
  });

  it('lists built-in templates, including the standard promotion', async () => {
    const list = await t.call('GET', '/api/v1/workflow-templates');
    const std = list.body.items.find((x: { name: string }) => x.name === 'standard-promotion');
    expect(std).toMatchObject({ isBuiltin: true });
    expect(std.nodes.map((n: { id: string }) => n.id)).toEqual([
      'evaluate_gates',
      'wait_for_approvals',
      'deploy',
      'verify',
      'record_evidence',
      'notify',
    ]);
    const edit = await t.call('POST', '/api/v1/workflow-templates/standard-promotion/versions', { nodes: [{ id: 'a', type: 'noop' }] });
    expect(edit.status).toBe(409);
  });

  it('cancels a run and refuses to cancel it twice', async () => {
    const run = await t.call('POST', '/api/v1/workflow-runs', { template: 'deploy-flow', version: 1, inputs: { who: 'bob' } });
    const c = await t.call('POST', `/api/v1/workflow-runs/${run.body.id}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('cancelled');
    expect(c.body.steps.every((s: { status: string }) => s.status === 'cancelled')).toBe(true);
    expect((await t.call('POST', `/api/v1/workflow-runs/${run.body.id}/cancel`)).status).toBe(409);
    const ev = await t.call('POST', `/api/v1/workflow-runs/${run.body.id}/steps/wait/events`, { event: 'approved' });
    expect(ev.status).toBe(409);
  });

  it('keeps runs within their tenant', async () => {
    const b = await t.call('POST', '/api/v1/tenants', { name: 'other', admin: { username: 'olga' } });
    const runs = await t.call('GET', '/api/v1/workflow-runs', undefined, b.body.adminToken);
    expect(runs.body.items).toEqual([]);
    const mine = await t.call('GET', '/api/v1/workflow-runs');
    expect(mine.body.items.length).toBeGreaterThan(0);
    expect((await t.call('GET', `/api/v1/workflow-runs/${mine.body.items[0].id}`, undefined, b.body.adminToken)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/workflow-templates/deploy-flow', undefined, b.body.adminToken)).status).toBe(404);
  });
});
