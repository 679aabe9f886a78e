// The example plugin's own test (node --test): the gate's answers inside, outside and across time zones.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { gates } from '../index.mjs';

const ctx = (now) => ({ now, tenantId: 't', promotion: { id: 'p' }, release: { components: [] }, environment: { name: 'prod' } });
const gate = gates['change-window'];

test('passes inside the window', async () => {
  // 2026-03-04 is a Wednesday
  const r = await gate({ context: ctx('2026-03-04T10:30:00Z'), config: { days: ['wed'], fromHour: 9, toHour: 17 }, instanceConfig: {} });
  assert.equal(r.status, 'pass');
  assert.match(r.reason, /inside the change window/);
});

test('is pending outside the window, with the next opening as retryAt', async () => {
  const r = await gate({ context: ctx('2026-03-04T18:00:00Z'), config: { days: ['wed', 'thu'], fromHour: 9, toHour: 17 }, instanceConfig: {} });
  assert.equal(r.status, 'pending');
  assert.equal(r.retryAt, '2026-03-05T09:00:00.000Z');
});

test('reads hours in the tenant time zone', async () => {
  // 10:30 UTC is 19:30 in Tokyo: outside 9–17 there
  const r = await gate({ context: ctx('2026-03-04T10:30:00Z'), config: { days: ['wed'], fromHour: 9, toHour: 17 }, instanceConfig: { timeZone: 'Asia/Tokyo' } });
  assert.equal(r.status, 'pending');
  assert.equal(r.inputs.local.hour, 19);
});

test('the manifest declares the gate the module exports', async () => {
  const manifest = JSON.parse(await readFile(new URL('../gantry-plugin.json', import.meta.url), 'utf8'));
  assert.deepEqual(manifest.contributes.gates.map((g) => g.name), Object.keys(gates));
  assert.deepEqual(manifest.contributes.stepTypes.map((s) => s.name), ['check-window']);
  assert.equal(manifest.apiVersion, '1');
});

test('the step type reports whether the window is open', async () => {
  const { stepTypes } = await import('../index.mjs');
  const r = await stepTypes['check-window']({ input: { days: ['wed'] }, instanceConfig: {}, context: { now: '2026-03-04T20:00:00Z' } });
  assert.deepEqual(r, { status: 'succeeded', outputs: { open: false, nextOpening: '2026-03-11T09:00:00.000Z' } });
});
