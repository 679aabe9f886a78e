// POST /integrations/{id}/check: probes an oci_registry integration (GET /v2/ with its credentials)
// and records the outcome as the integration's health_status.
import { GantryError } from '../core/errors.js';
import { ADMIN, type App, type Deps } from '../http/types.js';
import { recordHealth, registryClientFor } from '../registry/connect.js';
import { withTenant } from '../store/db.js';
import { caller } from '../tenancy/auth.js';
import { integration, integrationRef } from './model.js';
import { getIntegration } from './service.js';

export function integrationHealthRoutes(app: App, { db, clock }: Deps): void {
  app.post(
    '/api/v1/integrations/:ref/check',
    {
      config: { access: ADMIN },
      schema: {
        tags: ['integrations'],
        summary: 'Check an integration now and record its health',
        description: 'For oci_registry: GET /v2/ with the configured credentials. The answer is the integration with its new healthStatus.',
        params: integrationRef,
        response: { 200: integration },
      },
    },
    async (req) => {
      const tenantId = caller(req).tenantId;
      const current = await withTenant(db, tenantId, (tx) => getIntegration(tx, req.params.ref));
      if (current.typeId !== 'oci_registry') {
        throw new GantryError(
          'not_checkable',
          422,
          `Integration "${current.name}" is of type ${current.typeId}; only oci_registry integrations can be checked yet.`,
        );
      }
      let failure: unknown;
      try {
        await (await registryClientFor(current)).ping();
      } catch (err) {
        // An unhealthy registry is the answer of the check, not an error of this request.
        if (!(err instanceof GantryError)) throw err;
        failure = err;
      }
      return withTenant(db, tenantId, async (tx) => {
        await recordHealth(tx, current.id, failure, clock.now());
        return getIntegration(tx, current.id);
      });
    },
  );
}
