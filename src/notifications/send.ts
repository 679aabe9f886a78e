// The one place a notification leaves the server over HTTP: every webhook delivery attempt goes through
// sendWebhook (so a policy for outbound requests to tenant URLs applies to all of them here).

export interface SendOutcome {
  ok: boolean;
  /** HTTP status when the receiver answered. */
  status?: number;
  /** What went wrong, for the delivery log (never a secret: `target` names the URL or its reference). */
  error?: string;
  /** Whether trying again may help (a 4xx other than 408/429 will not). */
  retryable: boolean;
}

/** POSTs `body` to `url` with a timeout; never throws. */
export async function sendWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  target: string,
): Promise<SendOutcome> {
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => {});
    if (res.ok) return { ok: true, status: res.status, retryable: false };
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    return { ok: false, status: res.status, error: `${target} answered HTTP ${res.status}`, retryable };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` : (e.cause?.code ?? 'connection failed');
    return { ok: false, error: `${target} could not be reached (${why})`, retryable: true };
  }
}
