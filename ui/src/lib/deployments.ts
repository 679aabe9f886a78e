// Deployments and evidence lists that degrade gracefully while those APIs are landing.
import { raw } from '../api/client';
import type { DeploymentJob, EvidencePacket, Page } from '../api/contract';
import { isMissingRoute } from '../components/ui';

/** Deployment jobs, newest first; `promotion` is filtered here (the list takes environment and status). */
export async function listDeployments(
  query: { environment?: string; status?: string; promotion?: string } = {},
): Promise<DeploymentJob[] | undefined> {
  const { promotion, ...rest } = query;
  const qs = new URLSearchParams({ limit: '200', ...rest });
  try {
    const page = await raw<Page<DeploymentJob>>('GET', `/api/v1/deployments?${qs}`);
    return page.items.filter((j) => !promotion || j.promotionId === promotion);
  } catch (err) {
    if (isMissingRoute(err)) return undefined;
    throw err;
  }
}

export async function listEvidence(query: Record<string, string> = {}): Promise<EvidencePacket[] | undefined> {
  const qs = new URLSearchParams({ limit: '200', ...query });
  try {
    return (await raw<Page<EvidencePacket>>('GET', `/api/v1/evidence?${qs}`)).items;
  } catch (err) {
    if (isMissingRoute(err)) return undefined;
    throw err;
  }
}
