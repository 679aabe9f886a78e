#!/usr/bin/env node
// postinstall: installs the web UI's own dependencies (ui/package.json) and builds ui/dist when it is
// missing, so `npm install && npm start` serves the UI on a fresh clone. Quick when both are present.
// GANTRY_SKIP_UI=1 skips it (e.g. a server-only install). In an installed package (`npm install -g
// gantry-*.tgz`) it does nothing: the package carries the built ui/dist and none of the UI's sources.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ui = fileURLToPath(new URL('../ui/', import.meta.url));
const checkout = existsSync(path.join(ui, 'package.json'));
if (process.env.GANTRY_SKIP_UI === '1' || !checkout) process.exit(0);

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (args) => {
  const t0 = Date.now();
  const r = spawnSync(npm, args, { cwd: ui, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`gantry ui: npm ${args.join(' ')} failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`gantry ui: npm ${args.join(' ')} (${Date.now() - t0} ms)\n`);
};

const lock = path.join(ui, 'package-lock.json');
const marker = path.join(ui, 'node_modules', '.package-lock.json');
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) run([existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund']);
if (!existsSync(path.join(ui, 'dist', 'index.html'))) run(['run', 'build']);
