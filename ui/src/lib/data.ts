// Loaders shared by several pages: whole lists (all pages), promotions and drift.
import { api, unwrap } from '../api/client';
import type { DriftRow, Environment, Promotion, Query, Release, Target } from '../api/types';
import { allPages } from './useApi';

export const listEnvironments = (): Promise<Environment[]> =>
  allPages((cursor) => unwrap(api.GET('/api/v1/environments', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } })));

export const listTargets = (environment?: string): Promise<Target[]> =>
  allPages((cursor) =>
    unwrap(
      api.GET('/api/v1/targets', {
        params: { query: { limit: 500, ...(cursor ? { cursor } : {}), ...(environment ? { environment } : {}) } },
      }),
    ),
  );

export const listReleases = async (limit = 200): Promise<Release[]> =>
  (await unwrap(api.GET('/api/v1/releases', { params: { query: { limit } } }))).items;

/** Promotions, newest first. */
export async function listPromotions(query: Omit<Query<'/api/v1/promotions'>, 'limit' | 'cursor'> = {}): Promise<Promotion[]> {
  return (await unwrap(api.GET('/api/v1/promotions', { params: { query: { limit: 200, ...query } } }))).items;
}

export const ACTIVE_PROMOTION = new Set(['pending', 'awaiting_approval', 'approved', 'deploying']);

/** The drift verdict per target (GET /api/v1/drift). */
export async function listDrift(environment?: string): Promise<Map<string, DriftRow>> {
  const res = await unwrap(api.GET('/api/v1/drift', { params: { query: environment ? { environment } : {} } }));
  return new Map(res.items.map((d) => [d.targetId, d]));
}
