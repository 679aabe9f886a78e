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
  const running = useRef<Promise<void> | undefined>(undefined);
  const again = useRef(false);
  const enabled = opts.enabled ?? true;

  // One load at a time: a reload asked for while one runs (a burst of live changes) is done once after it,
  // and the running load's answer is still shown. Restarting instead would starve a page whose load takes
  // longer than the changes are apart (agents observing thousands of targets change the tenant constantly).
  const reload = useCallback((): Promise<void> => {
    if (running.current) {
      again.current = true;
      return running.current;
    }
    const run = async () => {
      do {
        again.current = false;
        const mine = generation.current;
        try {
          const value = await loadRef.current();
          if (mine !== generation.current) continue;
          setData(value);
          setError(undefined);
        } catch (err) {
          if (mine !== generation.current) continue;
          setError(err instanceof Error ? err : new Error(String(err)));
        } finally {
          if (mine === generation.current) setLoading(false);
        }
      } while (again.current);
    };
    running.current = run().finally(() => {
      running.current = undefined;
    });
    return running.current;
  }, []);

  useLive(reload, { enabled: enabled && opts.live !== false });

  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to reload
  useEffect(() => {
    if (!enabled) return;
    setLoading(true);
    // New deps: a load still running for the old ones is not shown, and one for these follows it.
    generation.current++;
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
