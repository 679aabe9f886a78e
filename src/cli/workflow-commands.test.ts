import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../../test/cli.js';
import { createTestDb, loopbackOutbound } from '../../test/helpers.js';
import { createLogger } from '../core/logger.js';
import { builtinRegistry, Engine } from '../engine/index.js';
import type { App } from '../http/types.js';
import { buildApp } from '../server.js';
import { bootstrap } from '../tenancy/service.js';

let app: App;
let engine: Engine;
let server: string;
let token: string;
let dir: string;

function gantry(args: string[]): Promise<CliRun> {
  return runCli(args, { home: dir, env: { GANTRY_SERVER: server, GANTRY_TOKEN: token } });
}

beforeAll(async () => {
  const { db, url } = await createTestDb();
  token = (await bootstrap(db)).token!;
  const registry = builtinRegistry({ outbound: loopbackOutbound() });
  app = await buildApp({ db, logger: false, registry, outbound: loopbackOutbound() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  engine = new Engine({ db, connectionString: url, registry, logger: createLogger('silent'), pollMs: 100 });
  await engine.start();
  dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-wf-cli-'));
});
afterAll(async () => {
  await engine.stop();
  await app.close();
});

describe('gantry workflow', () => {
  it('creates a template from YAML, runs it with --wait and shows the result', async () => {
    writeFileSync(
      path.join(dir, 'greet.yaml'),
      [
        'inputs:',
        '  who: { type: string, required: true }',
        'nodes:',
        '  - id: hello',
        '    type: set_outputs',
        '    config: { text: "hello ${{ inputs.who }}" }',
        '  - id: done',
        '    type: noop',
        'edges:',
        '  - { from: hello, to: done }',
        'outputs:',
        '  greeting: steps.hello.outputs.text',
      ].join('\n'),
    );
    const created = await gantry(['workflow', 'create', 'greet', '-f', 'greet.yaml']);
    expect(created.stdout).toBe('created template greet version 1\n');
    const run = await gantry(['workflow', 'run', 'greet', '--input', 'who=ops', '--wait', '--json']);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body).toMatchObject({ status: 'succeeded', outputs: { greeting: 'hello ops' } });
    const human = await gantry(['workflow', 'get', body.id, '--logs']);
    expect(human.stdout).toMatch(/status\s+succeeded/);
    expect(human.stdout).toMatch(/hello\s+1\s+succeeded/);
    const list = await gantry(['workflow', 'templates']);
    expect(list.stdout).toMatch(/greet\s+1\s+no\s+hello → done/);
    expect(list.stdout).toMatch(/standard-promotion/);
  });

  it('reports a template the server refuses, with the node named and exit code 2', async () => {
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ nodes: [{ id: 'x', type: 'warp' }] }));
    const r = await gantry(['workflow', 'create', 'bad', '-f', 'bad.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/node "x" has unknown step type "warp"/);
  });

  it('delivers events to a waiting step and cancels runs; a failed --wait exits 1', async () => {
    writeFileSync(
      path.join(dir, 'gate.json'),
      JSON.stringify({ nodes: [{ id: 'approve', type: 'approval_wait', config: { required: 1 } }] }),
    );
    expect((await gantry(['workflow', 'create', 'gate', '-f', 'gate.json'])).code).toBe(0);
    const started = JSON.parse((await gantry(['workflow', 'run', 'gate', '--json'])).stdout);
    for (let i = 0; i < 100; i++) {
      const r = JSON.parse((await gantry(['workflow', 'get', started.id, '--json'])).stdout);
      if (r.steps[0]?.status === 'waiting') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const ev = await gantry(['workflow', 'event', started.id, 'approve', 'approved']);
    expect(ev.code).toBe(0);
    const second = JSON.parse((await gantry(['workflow', 'run', 'gate', '--json'])).stdout);
    const cancelled = await gantry(['workflow', 'cancel', second.id]);
    expect(cancelled.stdout).toBe(`run ${second.id} cancelled\n`);
    writeFileSync(path.join(dir, 'fail.json'), JSON.stringify({ nodes: [{ id: 'boom', type: 'noop', config: { fail: 'on purpose' } }] }));
    await gantry(['workflow', 'create', 'fail', '-f', 'fail.json']);
    const failed = await gantry(['workflow', 'run', 'fail', '--wait']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/boom \(attempt 1\): failed — on purpose/);
    const runs = JSON.parse((await gantry(['workflow', 'runs', '--json'])).stdout);
    const first = runs.find((r: { id: string }) => r.id === started.id);
    expect(first.status).toBe('succeeded');
  });
});
