// The one place a notification leaves the server over HTTP: every webhook delivery attempt goes through
// sendWebhook, and sendWebhook through the outbound door (webhook URLs are tenant-configured).
import { type Outbound, OutboundRefusedError } from '../http/outbound.js';

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
  outbound: Outbound,
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  target: string,
): Promise<SendOutcome> {
  try {
    const res = await outbound.fetch(url, { method: 'POST', headers, body, timeoutMs });
    await res.body?.cancel().catch(() => {});
    if (res.ok) return { ok: true, status: res.status, retryable: false };
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    return { ok: false, status: res.status, error: `${target} answered HTTP ${res.status}`, retryable };
  } catch (err) {
    // The operator's policy refuses this address: trying again cannot help until the policy changes.
    if (err instanceof OutboundRefusedError) return { ok: false, error: err.message, retryable: false };
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` : (e.cause?.code ?? 'connection failed');
    return { ok: false, error: `${target} could not be reached (${why})`, retryable: true };
  }
}
