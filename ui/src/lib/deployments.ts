// Deployment and evidence lists shared by several pages.
import { api, unwrap } from '../api/client';
import type { DeploymentJob, EvidencePacket, Query } from '../api/types';

/** The newest 200 jobs matching the query; `promotion` is filtered by the server, so a promotion's jobs are never cut off. */
export async function listDeployments(query: Omit<Query<'/api/v1/deployments'>, 'limit' | 'cursor'> = {}): Promise<DeploymentJob[]> {
  return (await unwrap(api.GET('/api/v1/deployments', { params: { query: { limit: 200, ...query } } }))).items;
}

export async function listEvidence(query: Omit<Query<'/api/v1/evidence'>, 'limit' | 'cursor'> = {}): Promise<EvidencePacket[]> {
  return (await unwrap(api.GET('/api/v1/evidence', { params: { query: { limit: 200, ...query } } }))).items;
}
