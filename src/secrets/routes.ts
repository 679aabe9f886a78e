// HTTP routes for the tenant secret store: write (PUT), list metadata, delete. No route returns a value.
import { GantryError } from '../core/errors.js';
import { caller } from '../http/caller.js';
import { pageOf, pageQuery } from '../http/pagination.js';
import { ADMIN, type App, type Deps } from '../http/types.js';
import { secretAccessOf } from '../integrations/secrets.js';
import { withTenant } from '../store/db.js';
import * as m from './model.js';
import * as svc from './service.js';

/** Who writes secrets: admins only; listing them is for the roles that manage integrations (admin too). */
export const SECRET_WRITE = ADMIN;
export const SECRET_LIST = ADMIN;

export function secretRoutes(app: App, { db, secrets }: Deps): void {
  const tags = ['secrets'];
  const masterKey = () => {
    const key = (secrets ?? secretAccessOf(db)).masterKey;
    if (!key) throw new GantryError('secret_store_unavailable', 503, 'This server has no secret-store key (GANTRY_SECRET_KEY_FILE).');
    return key;
  };

  app.get(
    '/api/v1/secrets',
    {
      config: { access: SECRET_LIST },
      schema: {
        tags,
        summary: 'List this tenant’s secrets (names and versions, never values)',
        querystring: pageQuery,
        response: { 200: pageOf(m.secretMeta) },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listSecrets(tx, req.query.limit, req.query.cursor)),
  );

  app.put(
    '/api/v1/secrets/:name',
    {
      config: { access: SECRET_WRITE },
      schema: {
        tags,
        summary: 'Create a secret or replace its value',
        description:
          'The value is encrypted (AES-256-GCM envelope under the operator’s key) and can never be read back; reference it as secret:<name> in a credentialRef. ' +
          'Every write increments the version. 201 when created, 200 when replaced.',
        params: m.secretName,
        body: m.secretWrite,
        response: { 200: m.secretMeta, 201: m.secretMeta },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const key = masterKey();
      const meta = await withTenant(db, a.tenantId, (tx) =>
        svc.putSecret(tx, key, { tenantId: a.tenantId, name: req.params.name, value: req.body.value, userId: a.userId }),
      );
      return reply.status(meta.version === 1 ? 201 : 200).send(meta);
    },
  );

  app.delete(
    '/api/v1/secrets/:name',
    {
      config: { access: SECRET_WRITE },
      schema: {
        tags,
        summary: 'Delete a secret',
        description: 'Integrations that reference it fail at their next use, naming the missing secret.',
        params: m.secretName,
      },
    },
    async (req, reply) => {
      await withTenant(db, caller(req).tenantId, (tx) => svc.deleteSecret(tx, req.params.name));
      return reply.status(204).send();
    },
  );
}
