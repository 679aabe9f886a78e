// HTTP routes for the tenant secret store: write (PUT), list metadata, delete. No route returns a value.
import { GantryError } from '../core/errors.js';
import { apiRoute, resourceRoutes } from '../http/resource.js';
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

  const secretsResource = {
    path: '/api/v1/secrets',
    tags,
    access: { read: SECRET_LIST, write: SECRET_WRITE },
    item: m.secretMeta,
    ref: m.secretName,
  };
  resourceRoutes(app, db, {
    ...secretsResource,
    list: {
      summary: 'List this tenant’s secrets (names and versions, never values)',
      run: (tx, q) => svc.listSecrets(tx, q.limit, q.cursor),
    },
  });

  // Writing is create-or-replace by name (PUT); it comes before delete, as the OpenAPI document lists the path's methods.
  apiRoute(
    app,
    {
      method: 'PUT',
      url: '/api/v1/secrets/:name',
      access: SECRET_WRITE,
      tags,
      summary: 'Create a secret or replace its value',
      description:
        'The value is encrypted (AES-256-GCM envelope under the operator’s key) and can never be read back; reference it as secret:<name> in a credentialRef. ' +
        'Every write increments the version. 201 when created, 200 when replaced.',
      params: m.secretName,
      body: m.secretWrite,
      response: { 200: m.secretMeta, 201: m.secretMeta },
      status: (meta) => (meta.version === 1 ? 201 : 200),
    },
    async (req, a) => {
      const key = masterKey();
      return withTenant(db, a.tenantId, (tx) =>
        svc.putSecret(tx, key, { tenantId: a.tenantId, name: req.params.name, value: req.body.value, userId: a.userId }),
      );
    },
  );

  resourceRoutes(app, db, {
    ...secretsResource,
    remove: {
      summary: 'Delete a secret',
      description: 'Integrations that reference it fail at their next use, naming the missing secret.',
      run: (tx, { name }) => svc.deleteSecret(tx, name),
    },
  });
}
