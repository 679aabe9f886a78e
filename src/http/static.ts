// Serves the web UI (ui/dist, built by `npm run build:ui`) at `/`, with an SPA fallback to index.html for
// every other GET that is not the API, the docs or an operations endpoint. Absent build: nothing is served.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { App } from './types.js';

/** ui/dist beside src/ (sources) or dist/ (compiled): both sit one level below the repository root. */
export function defaultUiDir(): string {
  return process.env.GANTRY_UI_DIR ?? fileURLToPath(new URL('../../ui/dist', import.meta.url));
}

const NOT_UI = /^\/(api|docs|healthz|readyz|metrics)(\/|$|\?)/;
const ASSET = /\.(js|mjs|css|map|png|jpe?g|gif|svg|ico|webp|json|txt|woff2?|ttf)$/i;

/** Registers the UI if `dir` holds a build; answers whether it did. */
export async function uiRoutes(app: App, dir = defaultUiDir()): Promise<boolean> {
  const indexFile = path.join(dir, 'index.html');
  if (!existsSync(indexFile)) return false;
  const index = readFileSync(indexFile);
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, {
      root: dir,
      wildcard: false,
      index: false,
      schemaHide: true,
      // Vite names assets by content hash, so they never change; index.html is always revalidated.
      cacheControl: false,
      setHeaders: (reply, file) => {
        reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
    scope.get('/*', { schema: { hide: true } }, async (req, reply) => {
      const url = req.url.split('?')[0] ?? '/';
      // A missing asset is a 404, not a page of the app (page paths may hold dots: /releases/1.5.0).
      if (NOT_UI.test(req.url) || url.startsWith('/assets/') || ASSET.test(url)) return reply.callNotFound();
      return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
    });
  });
  return true;
}
