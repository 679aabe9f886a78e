// Loaders shared by several pages: whole lists (all pages), promotions and drift; and loads started early
// (before sign-in is confirmed) that a page takes over when it mounts.
import { api, unwrap } from '../api/client';
import type {
  DriftRow,
  Environment,
  EnvironmentTargetSummary,
  NextActions,
  Promotion,
  Query,
  Release,
  Target,
  TargetHistoryEntry,
} from '../api/types';
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

/** Per environment: target counts by state, the releases they run and the first `sample` targets (one request, whatever the number of targets). */
export async function targetSummary(sample = 6): Promise<EnvironmentTargetSummary[]> {
  return (await unwrap(api.GET('/api/v1/target-summary', { params: { query: { sample } } }))).items;
}

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

/** What the caller may promote to an environment now, computed by the server (GET …/next-actions). */
export const nextActions = (environment: string): Promise<NextActions> =>
  unwrap(api.GET('/api/v1/environments/{ref}/next-actions', { params: { path: { ref: environment } } }));

/** next-actions of every environment, by environment id: one request (GET /api/v1/next-actions). */
export async function nextActionsByEnv(): Promise<Map<string, NextActions>> {
  const all = await unwrap(api.GET('/api/v1/next-actions'));
  return new Map(all.items.map((a) => [a.environment.id, a]));
}

/** What ran on a target, newest first (the newest 100). */
export async function targetHistory(target: string): Promise<TargetHistoryEntry[]> {
  return (await unwrap(api.GET('/api/v1/targets/{ref}/history', { params: { path: { ref: target }, query: { limit: 100 } } }))).items;
}

/** Loads started before their page asked (see `preload`), by key; each is taken once, and only while fresh. */
const early = new Map<string, { at: number; value: Promise<unknown> }>();
const EARLY_FOR_MS = 10_000;

/**
 * Starts a page's load at once, e.g. while the app is still confirming the token (whoami), so the page's
 * requests do not wait for that round trip; the page gets it through `preloaded`. A refused token ends the
 * session the same way whoami's answer would.
 */
export function preload<T>(key: string, load: () => Promise<T>): void {
  const value = load();
  value.catch(() => undefined);
  early.set(key, { at: Date.now(), value });
}

/** The load `preload` started for `key` (once, while fresh), or a new one. */
export function preloaded<T>(key: string, load: () => Promise<T>): Promise<T> {
  const e = early.get(key);
  early.delete(key);
  return e && Date.now() - e.at < EARLY_FOR_MS ? (e.value as Promise<T>) : load();
}
