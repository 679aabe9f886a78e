// Gates that ask another system: a scanner's security verdict per digest, and an external policy
// service over HTTP (OPA's REST data API shape is accepted). Credentials come from the integration's
// credentialRef at use and never appear in results.
import { z } from 'zod';
import { denyingOutbound } from '../http/outbound.js';
import type { Integration } from '../integrations/model.js';
import { resolveCredential } from '../integrations/secrets.js';
import { getIntegration, getIntegrations } from '../integrations/service.js';
import { type Tx, withTenant } from '../store/db.js';
import type { Gate, GateDeps, PromotionContext } from './types.js';

// The gates of one evaluation start together, so the integrations they ask for before the current turn
// of the event loop ends are read by one statement in the caller's transaction (an integration does not
// change during a gate evaluation).
interface Waiting {
  resolve(i: Integration): void;
  reject(err: unknown): void;
}
interface Batch {
  answers: Map<string, Promise<Integration>>;
  waiting: Map<string, Waiting>;
}
const batches = new WeakMap<Tx, Batch>();

async function flush(tx: Tx, batch: Batch): Promise<void> {
  try {
    const found = await getIntegrations(tx, [...batch.waiting.keys()]);
    for (const [ref, w] of batch.waiting) {
      const hit = found.get(ref)!;
      if (hit instanceof Error) w.reject(hit);
      else w.resolve(hit);
    }
  } catch (err) {
    for (const w of batch.waiting.values()) w.reject(err);
  }
}

function fromTx(tx: Tx, ref: string): Promise<Integration> {
  let batch = batches.get(tx);
  if (!batch) {
    const fresh: Batch = { answers: new Map(), waiting: new Map() };
    batches.set(tx, fresh);
    queueMicrotask(() => {
      batches.delete(tx);
      void flush(tx, fresh);
    });
    batch = fresh;
  }
  let answer = batch.answers.get(ref);
  if (!answer) {
    const waiting = batch.waiting;
    answer = new Promise<Integration>((resolve, reject) => waiting.set(ref, { resolve, reject }));
    batch.answers.set(ref, answer);
  }
  return answer;
}

async function integration(deps: GateDeps, tenantId: string, name: string, typeId: string) {
  const i = deps.tx ? await fromTx(deps.tx, name) : await withTenant(deps.db, tenantId, (tx) => getIntegration(tx, name));
  if (i.typeId !== typeId) throw new Error(`integration "${name}" is a ${i.typeId}, not a ${typeId}`);
  return i;
}

/** Resolved at use, in the tenant's scope (so vault: references work); the secret never leaves the header. */
async function authHeaders(credentialRef: string | null, deps: GateDeps, tenantId: string): Promise<Record<string, string>> {
  if (!credentialRef) return {};
  const secret = await resolveCredential(credentialRef, { db: deps.db, tenantId, fetch: door(deps).fetch });
  return { authorization: `Bearer ${secret.replace(/^token:/, '')}` };
}

/** Every request of these gates goes through the outbound door (tenant-configured URLs). */
const door = (deps: GateDeps) => deps.outbound ?? denyingOutbound();

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const securityConfig = z.strictObject({
  integration: z.string().min(1).describe('A scanner_webhook integration'),
  thresholds: z.partialRecord(z.enum(SEVERITIES), z.number().int().min(0)).default({ critical: 0, high: 0 }),
  missingVerdict: z.enum(['pending', 'fail']).default('pending'),
});
const verdict = z.object({
  critical: z.number().int().min(0).default(0),
  high: z.number().int().min(0).default(0),
  medium: z.number().int().min(0).default(0),
  low: z.number().int().min(0).default(0),
  scannedAt: z.string().optional(),
});

/**
 * Asks the scanner for each digest's verdict: GET <url>/verdicts/<digest> → {critical, high, medium, low}
 * (404 = not scanned yet). Fails when a count exceeds its threshold.
 */
export const securityVerdictGate: Gate<z.infer<typeof securityConfig>> = {
  id: 'security_verdict',
  description: 'A scanner integration’s verdict on every digest is within the severity thresholds.',
  parseConfig: (c) => securityConfig.parse(c),
  async evaluate(ctx, config, deps) {
    const scanner = await integration(deps, ctx.tenantId, config.integration, 'scanner_webhook');
    const base = String(scanner.config.url).replace(/\/$/, '');
    const headers = await authHeaders(scanner.credentialRef, deps, ctx.tenantId);
    const verdicts: Record<string, unknown> = {};
    const over: string[] = [];
    const missing: string[] = [];
    for (const c of ctx.release.components) {
      const res = await door(deps).fetch(`${base}/verdicts/${encodeURIComponent(c.digest)}`, {
        headers,
        timeoutMs: 10_000,
        maxBytes: 64 * 1024,
      });
      if (res.status === 404) {
        missing.push(c.component);
        verdicts[c.digest] = null;
        continue;
      }
      if (!res.ok) throw new Error(`scanner "${config.integration}" answered ${res.status} for ${c.component}`);
      const v = verdict.parse(await res.json());
      verdicts[c.digest] = v;
      for (const s of SEVERITIES) {
        const max = config.thresholds[s];
        if (max !== undefined && v[s] > max) over.push(`${c.component}: ${v[s]} ${s} (max ${max})`);
      }
    }
    const inputs = { scanner: config.integration, thresholds: config.thresholds, verdicts };
    if (over.length) return { status: 'fail', reason: `security verdict over threshold: ${over.join('; ')}`, inputs };
    if (missing.length) {
      return {
        status: config.missingVerdict,
        reason: `no verdict yet for ${missing.join(', ')}${config.missingVerdict === 'pending' ? '; waiting for the scanner' : ''}`,
        inputs,
      };
    }
    return { status: 'pass', reason: 'every digest is within the thresholds', inputs };
  },
};

const webhookConfig = z.strictObject({ integration: z.string().min(1).describe('A policy_webhook integration') });
const webhookAnswer = z.object({ allow: z.boolean(), reasons: z.array(z.string()).default([]) });

/** The part of the context an external policy sees: no secrets, no internal ids it cannot use. */
export function policyInput(ctx: PromotionContext) {
  return {
    promotion: ctx.promotion,
    release: ctx.release,
    environment: { id: ctx.environment.id, name: ctx.environment.name, orderIndex: ctx.environment.orderIndex },
    approvals: ctx.approvals,
    now: ctx.now,
  };
}

/** POSTs {input: context} and expects {allow, reasons} (or OPA's {result: {allow, reasons}}). */
export const webhookGate: Gate<z.infer<typeof webhookConfig>> = {
  id: 'webhook',
  description: 'An external policy service (e.g. OPA’s REST data API) answers allow or deny for the promotion.',
  parseConfig: (c) => webhookConfig.parse(c),
  async evaluate(ctx, config, deps) {
    const svc = await integration(deps, ctx.tenantId, config.integration, 'policy_webhook');
    const timeout = Number(svc.config.timeoutMs ?? 10_000);
    const res = await door(deps).fetch(String(svc.config.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await authHeaders(svc.credentialRef, deps, ctx.tenantId)) },
      body: JSON.stringify({ input: policyInput(ctx) }),
      timeoutMs: timeout,
      maxBytes: 64 * 1024,
    });
    if (!res.ok) throw new Error(`policy service "${config.integration}" answered ${res.status}`);
    const body = (await res.json()) as { result?: unknown };
    const parsed = webhookAnswer.safeParse(body && typeof body === 'object' && 'result' in body ? body.result : body);
    if (!parsed.success) throw new Error(`policy service "${config.integration}" did not answer {allow, reasons}`);
    const inputs = { service: config.integration, answer: parsed.data };
    return parsed.data.allow
      ? { status: 'pass', reason: parsed.data.reasons.join('; ') || 'allowed by the policy service', inputs }
      : { status: 'fail', reason: parsed.data.reasons.join('; ') || 'denied by the policy service', inputs };
  },
};
