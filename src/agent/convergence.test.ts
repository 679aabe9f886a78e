import { describe, expect, it } from 'vitest';
import type { AgentTask, ObservedComponent } from '../protocol/deployment.js';
import { convergenceProblems, proveConvergence } from './convergence.js';
import { NoopExecutor } from './executors/noop.js';
import type { ExecResult } from './executors/types.js';

const pinned = `sha256:${'a'.repeat(64)}`;
const other = `sha256:${'b'.repeat(64)}`;

function task(action: 'deploy' | 'remove' = 'deploy'): AgentTask {
  return {
    taskId: '0190a000-0000-7000-8000-000000000001',
    jobId: '0190a000-0000-7000-8000-000000000002',
    attempt: 1,
    fencingToken: 1,
    mode: action === 'remove' ? 'rollback' : 'deploy',
    action,
    strategy: 'all_at_once',
    leaseExpiresAt: new Date().toISOString(),
    target: { id: '0190a000-0000-7000-8000-000000000003', name: 't1', type: 'docker_host', connection: {}, labels: {} },
    release: { id: '0190a000-0000-7000-8000-000000000004', name: 'r1' },
    promotionId: null,
    environment: { id: '0190a000-0000-7000-8000-000000000005', name: 'staging' },
    components: [{ name: 'web', image: 'reg.example/web', digest: pinned, previousDigest: null }],
    config: { maxFailures: 0, approvalBetweenWaves: false, verifySeconds: 0 },
  };
}

const container = (o: Partial<ObservedComponent> = {}): ObservedComponent => ({
  component: 'web',
  containerName: 'gantry-t1-web',
  containerId: 'f00d',
  image: `reg.example/web@${pinned}`,
  digest: pinned,
  running: true,
  labels: { 'gantry.digest': pinned },
  ...o,
});

const succeeded = (observed: ObservedComponent[], healthy = true): ExecResult => ({
  status: 'succeeded',
  sticker: { content: {}, contentHash: 'sha256:x' },
  artifacts: [],
  observed,
  health: { web: { ok: healthy, probes: 1, detail: healthy ? 'healthy' : 'GET / answered 500' } },
});

const now = new Date('2026-12-02T10:00:00.000Z');

describe('proof of convergence', () => {
  it('keeps a success whose container runs the pinned digest, healthy, and stamps it with time and health', () => {
    const r = proveConvergence(task(), succeeded([container()]), { now, dryRun: false });
    expect(r.status).toBe('succeeded');
    expect(r.observed[0]).toMatchObject({
      containerId: 'f00d',
      digest: pinned,
      observedAt: now.toISOString(),
      health: { status: 'healthy', detail: 'healthy', probes: 1 },
    });
  });

  it('fails a success whose container runs another digest after the change', () => {
    const r = proveConvergence(task(), succeeded([container({ digest: other, image: `reg.example/web@${other}` })]), {
      now,
      dryRun: false,
    });
    expect(r.status).toBe('failed');
    expect(r.error).toBe(`convergence not proven after the change: web: gantry-t1-web runs ${other}, not ${pinned}`);
    expect(r.sticker).toBeUndefined();
    expect(r.observed[0]?.digest).toBe(other);
  });

  it('does not take the gantry.digest label for the running digest', () => {
    const r = proveConvergence(task(), succeeded([container({ digest: null })]), { now, dryRun: false });
    expect(r.status).toBe('failed');
    expect(r.error).toContain('runs an image of unknown digest');
  });

  it('fails a success without observations, with a stopped container, or without a healthy result', () => {
    expect(proveConvergence(task(), succeeded([]), { now, dryRun: false }).error).toContain('web: not observed after the change');
    expect(proveConvergence(task(), succeeded([container({ running: false })]), { now, dryRun: false }).error).toContain(
      'gantry-t1-web is not running',
    );
    const unhealthy = proveConvergence(task(), succeeded([container()], false), { now, dryRun: false });
    expect(unhealthy.status).toBe('failed');
    expect(unhealthy.error).toContain('is not proven healthy (unhealthy: GET / answered 500)');
    const { health: _none, ...withoutHealth } = succeeded([container()]);
    const noHealth = proveConvergence(task(), withoutHealth, { now, dryRun: false });
    expect(noHealth.error).toContain('no health result after the change');
    const noContainer = proveConvergence(task(), succeeded([container({ containerId: null, running: false })]), { now, dryRun: false });
    expect(noContainer.error).toContain('web: no container gantry-t1-web');
  });

  it('leaves a failure failed, its observations stamped', () => {
    const r = proveConvergence(
      task(),
      { ...succeeded([container()], false), status: 'failed', error: 'unhealthy' },
      { now, dryRun: false },
    );
    expect(r).toMatchObject({ status: 'failed', error: 'unhealthy' });
    expect(r.observed[0]?.health?.status).toBe('unhealthy');
  });

  it('a removal succeeds only when no container is left', () => {
    const gone = container({ containerId: null, running: false, digest: null, image: null });
    expect(
      proveConvergence(task('remove'), { status: 'succeeded', artifacts: [], observed: [gone] }, { now, dryRun: false }),
    ).toMatchObject({
      status: 'succeeded',
      observed: [{ health: { status: 'absent' } }],
    });
    const left = proveConvergence(
      task('remove'),
      { status: 'succeeded', artifacts: [], observed: [gone, container({ containerName: 'gantry-t1-web-blue' })] },
      { now, dryRun: false },
    );
    expect(left.error).toBe('convergence not proven after the change: web: container gantry-t1-web-blue still exists');
  });

  it('accepts the noop executor: pinned digest, no container, health skipped (only as a dry run)', async () => {
    const noop = new NoopExecutor();
    const r = await noop.execute(task(), () => {});
    expect(r.observed).toMatchObject([
      { component: 'web', containerId: null, digest: pinned, running: true, health: { status: 'skipped' } },
    ]);
    expect(proveConvergence(task(), r, { now, dryRun: true }).status).toBe('succeeded');
    expect(convergenceProblems(task(), r.observed, false)).toEqual(['web: no container gantry-t1-web']);
    const removed = await noop.execute(task('remove'), () => {});
    expect(proveConvergence(task('remove'), removed, { now, dryRun: true }).status).toBe('succeeded');
  });
});
