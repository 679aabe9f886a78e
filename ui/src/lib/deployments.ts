// Deployment and evidence lists shared by several pages.
import { api, unwrap } from '../api/client';
import type { DeploymentJob, EvidencePacket, Query } from '../api/types';

/** Deployment jobs, newest first; `promotion` is filtered here (the list takes environment and status). */
export async function listDeployments(
  query: Omit<Query<'/api/v1/deployments'>, 'limit' | 'cursor'> & { promotion?: string } = {},
): Promise<DeploymentJob[]> {
  const { promotion, ...rest } = query;
  const page = await unwrap(api.GET('/api/v1/deployments', { params: { query: { limit: 200, ...rest } } }));
  return page.items.filter((j) => !promotion || j.promotionId === promotion);
}

export async function listEvidence(query: Omit<Query<'/api/v1/evidence'>, 'limit' | 'cursor'> = {}): Promise<EvidencePacket[]> {
  return (await unwrap(api.GET('/api/v1/evidence', { params: { query: { limit: 200, ...query } } }))).items;
}
