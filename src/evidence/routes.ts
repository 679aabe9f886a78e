// HTTP routes for evidence: the chain in order (filtered, paginated), one packet, the signing keys,
// and the export bundle that `gantry evidence verify` checks offline. Read-only: packets are appended
// by the promotion and deployment services, never through the API.
import { z } from 'zod';
import { pageOf, pageQuery } from '../http/pagination.js';
import { tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ } from '../http/types.js';
import { withSystem } from '../store/db.js';
import { exportBundle } from './export.js';
import * as m from './model.js';
import * as q from './queries.js';
import { registerKey } from './service.js';

export function evidenceRoutes(app: App, { db, clock, signer }: Deps): void {
  const tags = ['evidence'];
  // Register this replica's public key at start, so /evidence/keys lists it before it signs anything.
  if (signer) app.addHook('onReady', () => withSystem(db, (tx) => registerKey(tx, signer)));

  const read = { method: 'GET', access: READ, tags } as const;
  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/evidence',
      summary: 'List evidence packets in chain order (oldest first)',
      querystring: m.evidenceFilter.extend(pageQuery.shape),
      response: { 200: pageOf(m.evidencePacket) },
    },
    (tx, { query: { limit, cursor, ...filter } }, a) => q.listPackets(tx, a.tenantId, filter, limit, cursor),
  );

  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/evidence/export',
      summary: 'Export a self-contained, offline-verifiable bundle (packets, public keys, chain facts)',
      querystring: m.evidenceFilter,
      response: { 200: m.evidenceBundle },
    },
    (tx, req, a) => exportBundle(tx, a.tenantId, req.query, clock.now()),
  );

  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/evidence/keys',
      summary: 'Every public key that has signed evidence (retired keys included)',
      response: { 200: z.object({ items: z.array(m.signingKey) }) },
    },
    async (tx) => ({ items: await q.listKeys(tx) }),
  );

  tenantRoute(
    app,
    db,
    {
      ...read,
      url: '/api/v1/evidence/:id',
      summary: 'Get one evidence packet',
      params: z.strictObject({ id: z.string().max(100) }),
      response: { 200: m.evidencePacket },
    },
    (tx, req, a) => q.getPacket(tx, a.tenantId, req.params.id),
  );
}
