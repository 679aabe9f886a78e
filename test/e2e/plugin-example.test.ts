// Runs the example plugin's own test suite (node --test), as its author would, so CI keeps it green.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support.js';

describe('example plugin', () => {
  it('passes its own tests', () => {
    const dir = path.join(REPO_ROOT, 'examples', 'plugins', 'change-window');
    const r = spawnSync(process.execPath, ['--test', 'test/'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/# pass 5/);
  });
});
