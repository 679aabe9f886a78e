// Bundles the first-party plugins in plugins/ that have npm dependencies: a plugin whose package.json has
// "gantry": {"bundle": "<source entry>"} is bundled with esbuild (its dependencies come from the root
// node_modules) into the entrypoint its manifest names, e.g. dist/index.mjs. A plugin package holds no
// node_modules (`gantry plugin pack` leaves them out), so one file carries the dependencies it needs.
// Plugins without "gantry.bundle" are plain modules and need no build. Usage: node scripts/build-plugins.mjs [name…]
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..', 'plugins');
const only = process.argv.slice(2);

const names = existsSync(root) ? await readdir(root, { withFileTypes: true }) : [];
for (const name of names
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort()) {
  if (only.length > 0 && !only.includes(name)) continue;
  const dir = path.join(root, name);
  const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
  const source = pkg.gantry?.bundle;
  if (!source) continue;
  const manifest = JSON.parse(await readFile(path.join(dir, 'gantry-plugin.json'), 'utf8'));
  await build({
    entryPoints: [path.join(dir, source)],
    outfile: path.join(dir, manifest.entrypoint),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __gantryRequire } from 'node:module'; const require = __gantryRequire(import.meta.url);" },
    legalComments: 'linked',
    logLevel: 'warning',
  });
  process.stdout.write(`bundled plugins/${name} → ${manifest.entrypoint}\n`);
}
