// HTTP routes for drift: the last verdict per target, and a request to check again now.
import { z } from 'zod';
import { tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ } from '../http/types.js';
import { listDrift, requestCheck } from './service.js';

const driftItem = z.object({
  component: z.string().nullable(),
  field: z.enum(['container', 'running', 'digest', 'sticker', 'unobservable']),
  expected: z.string().nullable(),
  actual: z.string().nullable(),
});
const driftRow = z.object({
  targetId: z.uuid(),
  unobservable: z.string().nullable().describe('Why the target cannot be observed (not drift: nothing could be compared), or null.'),
  targetName: z.string(),
  environmentName: z.string(),
  targetType: z.string(),
  driftDetected: z.boolean(),
  drift: z.array(driftItem),
  checkedAt: z.string().nullable(),
  currentDigest: z.string().nullable(),
  stickerHash: z.string().nullable(),
});
const envQuery = z.strictObject({ environment: z.string().min(1).max(100).optional() });

export function driftRoutes(app: App, { db }: Deps): void {
  const tags = ['drift'];
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/drift',
      access: READ,
      tags,
      summary: 'Drift per target: running digests and sticker against the record',
      querystring: envQuery,
      response: { 200: z.object({ items: z.array(driftRow) }) },
    },
    async (tx, req) => ({ items: await listDrift(tx, req.query.environment) }),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/drift/check',
      access: ['admin', 'release_manager', 'deployer'],
      tags,
      summary: 'Check drift at the next heartbeat instead of the next interval',
      body: envQuery,
      response: { 202: z.object({ requested: z.boolean() }) },
      status: 202,
    },
    async (tx, req) => {
      await requestCheck(tx, req.body.environment);
      return { requested: true };
    },
  );
}
