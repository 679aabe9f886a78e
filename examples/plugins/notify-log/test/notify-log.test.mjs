// The example plugin's own test (node --test): the channel appends each event to the instance's file,
// in the work directory Gantry gives it (GANTRY_PLUGIN_WORK_DIR).
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { notificationChannels } from '../index.mjs';

test('appends each event as one JSON line', async () => {
  process.env.GANTRY_PLUGIN_WORK_DIR = await mkdtemp(path.join(os.tmpdir(), 'notify-log-'));
  const file = 'events.jsonl';
  const event = { type: 'promotion.requested', tenantId: 't', at: '2026-03-04T10:00:00.000Z', data: { release: '1.0.0' } };
  await notificationChannels.log({ event, config: {}, instanceConfig: { file } });
  await notificationChannels.log({ event: { ...event, type: 'promotion.deployed' }, config: {}, instanceConfig: { file } });
  const lines = (await readFile(path.join(process.env.GANTRY_PLUGIN_WORK_DIR, file), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.type),
    ['promotion.requested', 'promotion.deployed'],
  );
  assert.deepEqual(lines[0], event);
});
