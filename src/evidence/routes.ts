// HTTP routes for evidence: the chain in order (filtered, paginated), one packet, the signing keys,
// and the export bundle that `gantry evidence verify` checks offline. Read-only: packets are appended
// by the promotion and deployment services, never through the API.
import { z } from 'zod';
import { caller } from '../http/caller.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { type App, type Deps, READ } from '../http/types.js';
import { withSystem, withTenant } from '../store/db.js';
import { exportBundle } from './export.js';
import * as m from './model.js';
import * as q from './queries.js';
import { registerKey } from './service.js';

export function evidenceRoutes(app: App, { db, clock, signer }: Deps): void {
  const tags = ['evidence'];
  // Register this replica's public key at start, so /evidence/keys lists it before it signs anything.
  if (signer) app.addHook('onReady', () => withSystem(db, (tx) => registerKey(tx, signer)));

  app.get(
    '/api/v1/evidence',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'List evidence packets in chain order (oldest first)',
        querystring: m.evidenceFilter.extend(pageQuery.shape),
        response: { 200: pageOf(m.evidencePacket) },
      },
    },
    async (req) => {
      const { limit, cursor, ...filter } = req.query;
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => q.listPackets(tx, a.tenantId, filter, limit, cursor));
    },
  );

  app.get(
    '/api/v1/evidence/export',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Export a self-contained, offline-verifiable bundle (packets, public keys, chain facts)',
        querystring: m.evidenceFilter,
        response: { 200: m.evidenceBundle },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => exportBundle(tx, a.tenantId, req.query, clock.now()));
    },
  );

  app.get(
    '/api/v1/evidence/keys',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Every public key that has signed evidence (retired keys included)',
        response: { 200: z.object({ items: z.array(m.signingKey) }) },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, async (tx) => ({ items: await q.listKeys(tx) })),
  );

  app.get(
    '/api/v1/evidence/:id',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Get one evidence packet',
        params: z.strictObject({ id: z.string().max(100) }),
        response: { 200: m.evidencePacket },
      },
    },
    async (req) => {
      const a = caller(req);
      return withTenant(db, a.tenantId, (tx) => q.getPacket(tx, a.tenantId, req.params.id));
    },
  );
}
