// Deployments and evidence lists that degrade gracefully while those APIs are landing.
import { api, unwrap } from '../api/client';
import type { DeploymentJob, EvidencePacket, Query } from '../api/types';
import { isMissingRoute } from '../components/ui';

/** Deployment jobs, newest first; `promotion` is filtered here (the list takes environment and status). */
export async function listDeployments(
  query: Omit<Query<'/api/v1/deployments'>, 'limit' | 'cursor'> & { promotion?: string } = {},
): Promise<DeploymentJob[] | undefined> {
  const { promotion, ...rest } = query;
  try {
    const page = await unwrap(api.GET('/api/v1/deployments', { params: { query: { limit: 200, ...rest } } }));
    return page.items.filter((j) => !promotion || j.promotionId === promotion);
  } catch (err) {
    if (isMissingRoute(err)) return undefined;
    throw err;
  }
}

export async function listEvidence(query: Omit<Query<'/api/v1/evidence'>, 'limit' | 'cursor'> = {}): Promise<EvidencePacket[] | undefined> {
  try {
    return (await unwrap(api.GET('/api/v1/evidence', { params: { query: { limit: 200, ...query } } }))).items;
  } catch (err) {
    if (isMissingRoute(err)) return undefined;
    throw err;
  }
}
