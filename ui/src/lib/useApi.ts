// Loads data for a page: loading/error/data, reload(), live reloads on the tenant's changes (lib/live.ts),
// and optional polling while the tab is visible.
import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';
import { useLive } from './live';

export interface ApiState<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => Promise<void>;
}

export function useApi<T>(
  load: () => Promise<T>,
  deps: DependencyList,
  opts: { pollMs?: number; enabled?: boolean; live?: boolean } = {},
): ApiState<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const generation = useRef(0);
  const enabled = opts.enabled ?? true;

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const value = await loadRef.current();
      if (mine !== generation.current) return;
      setData(value);
      setError(undefined);
    } catch (err) {
      if (mine !== generation.current) return;
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useLive(reload, { enabled: enabled && opts.live !== false });

  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to reload
  useEffect(() => {
    if (!enabled) return;
    setLoading(true);
    void reload();
    if (!opts.pollMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void reload();
    }, opts.pollMs);
    return () => clearInterval(timer);
  }, [...deps, enabled, opts.pollMs]);

  return { data, error, loading, reload };
}

/** Fetches every page of a cursor-paginated list. */
export async function allPages<I>(page: (cursor: string | undefined) => Promise<{ items: I[]; nextCursor: string | null }>): Promise<I[]> {
  const out: I[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const res = await page(cursor);
    out.push(...res.items);
    if (!res.nextCursor) break;
    cursor = res.nextCursor;
  }
  return out;
}
