// Jittered exponential backoff for the agent's retries (start-up requests, task polls, report delivery):
// "full jitter" — each delay is drawn uniformly from [0, min(cap, base·2^n)] — so that agents cut off by
// the same outage do not come back in step and hammer a recovering server together.

export interface BackoffOptions {
  /** The ceiling of the first delay, in ms (default 500). */
  baseMs?: number | undefined;
  /** The ceiling no delay goes beyond, in ms (default 30 s). */
  capMs?: number | undefined;
  /** A number in [0, 1); injected by tests for repeatable delays (default Math.random). */
  random?: (() => number) | undefined;
}

export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  private readonly random: () => number;
  private failures = 0;

  constructor(o: BackoffOptions = {}) {
    this.baseMs = o.baseMs ?? 500;
    this.capMs = o.capMs ?? 30_000;
    if (!(this.baseMs > 0) || !(this.capMs >= this.baseMs)) {
      throw new Error(`backoff needs 0 < base (${this.baseMs} ms) <= cap (${this.capMs} ms)`);
    }
    this.random = o.random ?? Math.random;
  }

  /** Failures since the last success. */
  get attempts(): number {
    return this.failures;
  }

  /** The ceiling of the delay after the nth consecutive failure (n ≥ 1). */
  ceiling(n: number): number {
    // The exponent is bounded so that 2^n cannot overflow to Infinity after a very long outage.
    return Math.min(this.capMs, this.baseMs * 2 ** Math.min(Math.max(n, 1) - 1, 30));
  }

  /** Counts a failure and returns how long to wait before the next try, in whole ms. */
  next(): number {
    this.failures++;
    return Math.floor(this.random() * this.ceiling(this.failures));
  }

  /** A success: the next failure starts again from the base delay. */
  reset(): void {
    this.failures = 0;
  }
}
