// POST /integrations/{id}/check: probes an integration now (registry GET /v2/, Vault token lookup,
// webhook reachability, credential resolution) and records the outcome as its health_status.

import { apiRoute } from '../http/resource.js';
import { ADMIN, type App, type Deps } from '../http/types.js';
import { withTenant } from '../store/db.js';
import { checkIntegration, setHealth } from './health.js';
import { integration, integrationRef } from './model.js';
import { getIntegration } from './service.js';

export function integrationHealthRoutes(app: App, { db, clock, outbound }: Deps): void {
  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/integrations/:ref/check',
      access: ADMIN,
      tags: ['integrations'],
      summary: 'Check an integration now and record its health',
      description:
        'oci_registry: GET /v2/ with its credentials; secret_store_vault: token lookup-self; scanner and policy webhooks: an HTTP GET of their URL; ' +
        'notification_webhook: that its credential resolves (nothing is posted). The answer is the integration with its new healthStatus; ' +
        'an unhealthy integration is the answer, not an error. A credentialRef this server refuses (see GANTRY_SECRET_ENV_PREFIX, GANTRY_SECRET_DIRS) answers 422 credential_ref_forbidden; nothing is sent.',
      params: integrationRef,
      response: { 200: integration },
    },
    async (req, { tenantId }) => {
      const current = await withTenant(db, tenantId, (tx) => getIntegration(tx, req.params.ref));
      const outcome = await checkIntegration(db, tenantId, current, outbound);
      const checked = await withTenant(db, tenantId, async (tx) => {
        if (outcome) await setHealth(tx, current.id, outcome, clock.now());
        return getIntegration(tx, current.id);
      });
      // A reference this server never resolves is the caller's mistake, not the integration's health.
      if (outcome?.refusal) throw outcome.refusal;
      return checked;
    },
  );
}
