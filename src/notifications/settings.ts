// Timings of notification delivery, from the environment (docs/operations.md).

export interface NotificationSettings {
  /** Milliseconds between outbox polls of each server (a local commit also wakes its own dispatcher at once). */
  pollMs: number;
  /** Milliseconds one delivery attempt may take before it counts as failed. */
  timeoutMs: number;
  /** Delay before the 2nd attempt; each later one doubles it (with jitter), up to backoffMaxMs. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Attempts before a notification becomes a dead letter (re-sendable through the API). */
  maxAttempts: number;
  /** Deliveries in flight at once per server. */
  concurrency: number;
}

function num(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}".`);
  return n;
}

export function loadNotificationSettings(env: NodeJS.ProcessEnv = process.env): NotificationSettings {
  return {
    pollMs: num(env, 'GANTRY_NOTIFY_POLL_MS', 1000, 10, 60_000),
    timeoutMs: num(env, 'GANTRY_NOTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
    backoffBaseMs: num(env, 'GANTRY_NOTIFY_BACKOFF_BASE_MS', 2000, 1, 3_600_000),
    backoffMaxMs: num(env, 'GANTRY_NOTIFY_BACKOFF_MAX_MS', 300_000, 1, 86_400_000),
    maxAttempts: num(env, 'GANTRY_NOTIFY_MAX_ATTEMPTS', 15, 1, 1000),
    concurrency: num(env, 'GANTRY_NOTIFY_CONCURRENCY', 16, 1, 256),
  };
}

/**
 * Delay before attempt `attempt + 1`: base·2^(attempt−1) capped at max, with "equal jitter" (half fixed,
 * half random) so replicas and channels that failed together do not retry in lockstep.
 */
export function backoffMs(s: Pick<NotificationSettings, 'backoffBaseMs' | 'backoffMaxMs'>, attempt: number, random = Math.random): number {
  const exp = Math.min(s.backoffMaxMs, s.backoffBaseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(exp / 2 + (exp / 2) * random());
}
