// Live updates: one server-sent-events stream per tab (GET /api/v1/events/stream, opened with a one-use
// ticket because EventSource cannot send the bearer token), shared by every page. useLive(reload) calls
// the page's reload shortly after any change of the tenant, and after every (re)connect, since changes
// made while the stream was down were not seen. Reconnects with backoff; stops when signed out.
import { useEffect, useRef, useSyncExternalStore } from 'react';
import { api, getToken, unwrap } from '../api/client';

export interface Change {
  kind: string;
  id: string | null;
}

export type LiveState = 'off' | 'connecting' | 'open' | 'retrying';

type Subscriber = (change: Change) => void;
const subscribers = new Set<Subscriber>();
const stateListeners = new Set<() => void>();
let state: LiveState = 'off';
let source: EventSource | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let failures = 0;
let generation = 0;

function setState(s: LiveState): void {
  state = s;
  for (const fn of stateListeners) fn();
}

function emit(change: Change): void {
  for (const fn of subscribers) fn(change);
}

function stop(): void {
  generation++;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = undefined;
  source?.close();
  source = undefined;
  setState('off');
}

function retry(): void {
  source?.close();
  source = undefined;
  if (!getToken() || subscribers.size === 0) {
    stop();
    return;
  }
  setState('retrying');
  const delay = Math.min(15_000, 1000 * 2 ** Math.min(failures, 4));
  failures++;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void connect(), delay);
}

async function connect(): Promise<void> {
  retryTimer = undefined;
  if (!getToken() || subscribers.size === 0) {
    stop();
    return;
  }
  const mine = ++generation;
  setState(state === 'open' ? 'retrying' : 'connecting');
  let url: string;
  try {
    url = (await unwrap(api.POST('/api/v1/events/ticket'))).streamUrl;
  } catch {
    if (mine === generation) retry();
    return;
  }
  if (mine !== generation) return;
  const es = new EventSource(url);
  source = es;
  es.addEventListener('ready', () => {
    failures = 0;
    setState('open');
    // Whatever changed while there was no stream: every page reloads once.
    emit({ kind: 'resync', id: null });
  });
  es.addEventListener('change', (e) => {
    try {
      emit(JSON.parse((e as MessageEvent<string>).data) as Change);
    } catch {
      // a malformed event changes nothing
    }
  });
  es.addEventListener('unauthorized', () => {
    stop();
    window.dispatchEvent(new Event('gantry:unauthorized'));
  });
  // A ticket opens one stream, so EventSource's own reconnect (same URL) cannot work: reconnect with a new one.
  es.onerror = () => {
    if (source === es) retry();
  };
}

function ensureConnected(): void {
  if (source || retryTimer || state === 'connecting') return;
  void connect();
}

/** Calls fn with every change of the tenant (and `resync` after each connect) until the returned function is called. */
export function subscribeLive(fn: Subscriber): () => void {
  subscribers.add(fn);
  ensureConnected();
  return () => {
    subscribers.delete(fn);
  };
}

window.addEventListener('gantry:token', () => {
  if (!getToken()) stop();
  else if (subscribers.size) {
    stop();
    void connect();
  }
});

/** The stream's state, for an indicator. */
export function useLiveState(): LiveState {
  return useSyncExternalStore(
    (fn) => {
      stateListeners.add(fn);
      return () => stateListeners.delete(fn);
    },
    () => state,
  );
}

/**
 * Reloads the page's data after changes: `reload` runs once per burst (within `delayMs` of the first
 * change), never more than once per `delayMs`. `kinds` limits which changes count (default: all).
 */
export function useLive(reload: () => unknown, opts: { enabled?: boolean; kinds?: string[]; delayMs?: number } = {}): void {
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  const enabled = opts.enabled ?? true;
  const delay = opts.delayMs ?? 300;
  const kinds = opts.kinds?.join(',');
  useEffect(() => {
    if (!enabled) return;
    const wanted = kinds ? new Set(kinds.split(',')) : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const unsubscribe = subscribeLive((c) => {
      if (wanted && c.kind !== 'resync' && !wanted.has(c.kind)) return;
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void reloadRef.current();
      }, delay);
    });
    return () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [enabled, kinds, delay]);
}
