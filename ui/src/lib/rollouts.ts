// Progressive rollouts: list, one rollout, and the operator's decisions.
import { api, unwrap } from '../api/client';
import type { Rollout, RolloutSummary } from '../api/types';

export async function listRollouts(): Promise<RolloutSummary[]> {
  return unwrap(api.GET('/api/v1/rollouts', { params: { query: {} } }));
}

export async function getRollout(id: string): Promise<Rollout> {
  return unwrap(api.GET('/api/v1/rollouts/{id}', { params: { path: { id } } }));
}

export type RolloutDecision = 'advance' | 'promote' | 'rollback' | 'abort';

export async function decideRollout(id: string, action: RolloutDecision, reason: string): Promise<Rollout> {
  const init = { params: { path: { id } }, body: { reason } };
  switch (action) {
    case 'advance':
      return unwrap(api.POST('/api/v1/rollouts/{id}/advance', init));
    case 'promote':
      return unwrap(api.POST('/api/v1/rollouts/{id}/promote', init));
    case 'rollback':
      return unwrap(api.POST('/api/v1/rollouts/{id}/rollback', init));
    case 'abort':
      return unwrap(api.POST('/api/v1/rollouts/{id}/abort', init));
  }
}

/** POST /rollouts with a spec built by the page (the server validates it; its problem details come back as errors). */
export async function startRollout(body: unknown): Promise<Rollout> {
  // The page builds the body field by field; the server's schema is the check (its errors are shown as they come).
  return unwrap(api.POST('/api/v1/rollouts', { body: body as never }));
}
