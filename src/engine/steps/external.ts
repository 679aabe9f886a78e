// Built-in step types that talk to the outside or wait for it: http_call, notify, approval_wait, deploy, gate_evaluation.
import { z } from 'zod';
import { type Outbound, OutboundRefusedError, readCapped } from '../../http/outbound.js';
import { evalCondition } from '../expressions.js';
import type { StepContext, StepType } from '../registry.js';

const CAPTURE_MAX = 64 * 1024;

const httpInput = z.strictObject({
  url: z.url(),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
  timeoutMs: z.number().int().min(1).max(300_000).default(30_000),
  captureBody: z
    .boolean()
    .default(false)
    .describe('Record the answer body (at most 64 KiB; JSON parsed) in the step outputs; by default only the status is kept.'),
});
type HttpInput = z.infer<typeof httpInput>;

interface HttpOutcome {
  status: number;
  body?: unknown;
  bodyTruncated?: boolean | undefined;
}

/**
 * Sends a request through the outbound door with an Idempotency-Key; a non-GET request is applied at most
 * once per node. Only the status is kept unless the step opts in with captureBody, so an answer from a
 * system the server can reach never ends up in the run's outputs by default.
 */
async function send(outbound: Outbound, ctx: StepContext<unknown>, input: Omit<HttpInput, 'captureBody'> & { captureBody?: boolean }) {
  const call = async (key: string): Promise<HttpOutcome> => {
    const res = await outbound.fetch(input.url, {
      method: input.method,
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...(input.headers ?? {}) },
      ...(input.body !== undefined && input.method !== 'GET' ? { body: JSON.stringify(input.body) } : {}),
      signal: ctx.signal,
      timeoutMs: input.timeoutMs,
    });
    if (!input.captureBody) {
      await res.body?.cancel().catch(() => {});
      return { status: res.status };
    }
    const { text, truncated } = await readCapped(res, CAPTURE_MAX);
    let body: unknown = text;
    if (!truncated) {
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
    }
    return { status: res.status, body, ...(truncated ? { bodyTruncated: true } : {}) };
  };
  if (input.method === 'GET') return call(`${ctx.runId}:${ctx.nodeId}:http`);
  return ctx.effect('http', call);
}

/** A refusal by the outbound policy will not change on retry; anything else (network, timeout) may. */
function refused(err: unknown): { status: 'failed'; error: string; retryable: false } | undefined {
  return err instanceof OutboundRefusedError ? { status: 'failed', error: err.message, retryable: false } : undefined;
}

export function createHttpCallStep(outbound: Outbound): StepType<HttpInput, HttpOutcome> {
  return {
    type: 'http_call',
    description:
      'Calls an HTTP endpoint with an Idempotency-Key header; 5xx and network errors retry. Outputs the status, and the body (64 KiB at most) only with captureBody.',
    inputSchema: httpInput,
    outputSchema: z.object({ status: z.number(), body: z.unknown().optional(), bodyTruncated: z.boolean().optional() }),
    async execute(ctx) {
      ctx.log(`${ctx.input.method} ${ctx.input.url}`);
      let out: HttpOutcome;
      try {
        out = await send(outbound, ctx, ctx.input);
      } catch (err) {
        const r = refused(err);
        if (r) return r;
        throw err;
      }
      ctx.log(`answered ${out.status}`);
      if (out.status >= 500) return { status: 'failed', error: `${ctx.input.url} answered ${out.status}`, retryable: true };
      if (out.status >= 400) return { status: 'failed', error: `${ctx.input.url} answered ${out.status}`, retryable: false };
      return { status: 'succeeded', outputs: out };
    },
  };
}

const notifyInput = z.strictObject({
  event: z.string().min(1).max(100),
  message: z.string().max(4000).optional(),
  url: z.url().optional().describe('Webhook to POST the event to; without it the event is only logged.'),
  format: z.enum(['generic', 'slack']).default('generic'),
  data: z.record(z.string(), z.unknown()).optional(),
  promotionId: z.string().optional(),
});

export function createNotifyStep(outbound: Outbound): StepType<z.infer<typeof notifyInput>, { delivered: boolean }> {
  return {
    type: 'notify',
    description: 'Logs an event and, given a url, posts it as generic JSON or a Slack-compatible payload.',
    inputSchema: notifyInput,
    outputSchema: z.object({ delivered: z.boolean() }),
    async execute(ctx) {
      const { event, message, url, format, data, promotionId } = ctx.input;
      ctx.log(`event ${event}${message ? `: ${message}` : ''}`);
      if (!url) return { status: 'succeeded', outputs: { delivered: false } };
      const payload =
        format === 'slack'
          ? { text: `[gantry] ${event}${message ? ` — ${message}` : ''}` }
          : { event, message, data, promotionId, runId: ctx.runId };
      let out: HttpOutcome;
      try {
        out = await send(outbound, ctx, { url, method: 'POST', body: payload, timeoutMs: 10_000 });
      } catch (err) {
        const r = refused(err);
        if (r) return r;
        throw err;
      }
      if (out.status >= 300)
        return { status: 'failed', error: `notification to ${url} answered ${out.status}`, retryable: out.status >= 500 };
      return { status: 'succeeded', outputs: { delivered: true } };
    },
  };
}

/** Waits for approval events (POST …/steps/{node}/events); one person counts once; a rejection fails the step. */
export const approvalWaitStep: StepType<{ required: number; promotionId?: string | undefined }, { approvedBy: string[] }> = {
  type: 'approval_wait',
  description: 'Waits until `required` distinct people approve; any rejection fails it.',
  inputSchema: z.strictObject({ required: z.number().int().min(0).max(100).default(1), promotionId: z.string().optional() }),
  outputSchema: z.object({ approvedBy: z.array(z.string()) }),
  async execute(ctx) {
    const rejected = ctx.events.find((e) => e.event === 'rejected');
    if (rejected) return { status: 'failed', error: `rejected by ${String(rejected.payload.by ?? 'someone')}`, retryable: false };
    const approvedBy = [...new Set(ctx.events.filter((e) => e.event === 'approved').map((e) => String(e.payload.by ?? '')))].filter(
      Boolean,
    );
    if (approvedBy.length >= ctx.input.required) return { status: 'succeeded', outputs: { approvedBy } };
    return { status: 'waiting', reason: `${approvedBy.length} of ${ctx.input.required} approvals` };
  },
};

/** Creates the deployment job of a promotion; implemented by the deployments domain and wired in server.ts. */
export interface DeployHandoff {
  createJob(tenantId: string, input: { promotionId: string; environmentId?: string | undefined }): Promise<{ jobId: string }>;
}

type DeployInput = { promotionId?: string | undefined; environmentId?: string | undefined };

/**
 * Hands over to the deployment subsystem and waits for its `deployment_finished` event. The first
 * execution creates the job through ctx.effect, so a retried or re-leased attempt never creates a second.
 */
export function createDeployStep(handoff?: DeployHandoff): StepType<DeployInput, { jobId: string | null; outcome: string }> {
  return {
    type: 'deploy',
    description: 'Creates the deployment job of the promotion and waits for it to finish (event deployment_finished {status, jobId}).',
    inputSchema: z.strictObject({ promotionId: z.string().optional(), environmentId: z.string().optional() }),
    outputSchema: z.object({ jobId: z.string().nullable(), outcome: z.string() }),
    async execute(ctx) {
      const done = ctx.events.find((e) => e.event === 'deployment_finished');
      if (!done) {
        const { promotionId, environmentId } = ctx.input;
        if (!handoff || !promotionId) return { status: 'waiting', reason: 'deployment in progress' };
        const { jobId } = await ctx.effect('job', () => handoff.createJob(ctx.tenantId, { promotionId, environmentId }));
        ctx.log(`deployment job ${jobId}`);
        return { status: 'waiting', reason: `deployment ${jobId} in progress` };
      }
      const outcome = String(done.payload.status ?? 'unknown');
      const jobId = typeof done.payload.jobId === 'string' ? done.payload.jobId : null;
      if (outcome !== 'succeeded') return { status: 'failed', error: `deployment ${jobId ?? ''} ended ${outcome}`, retryable: false };
      return { status: 'succeeded', outputs: { jobId, outcome } };
    },
  };
}

/** The deploy step without a deployment subsystem (tests of the engine alone): it only waits. */
export const deployStep = createDeployStep();

const gateInput = z.strictObject({
  promotionId: z.string().optional(),
  policies: z.array(z.strictObject({ name: z.string().min(1), expression: z.string().min(1) })).default([]),
  context: z.record(z.string(), z.unknown()).default({}),
});

/** Evaluates CEL policies over the run inputs and a given context; any failing policy fails the step. */
export const gateEvaluationStep: StepType<
  z.infer<typeof gateInput>,
  { results: { name: string; result: 'pass' | 'fail'; reason: string }[] }
> = {
  type: 'gate_evaluation',
  description: 'Evaluates CEL policies over {inputs, context}; a failing policy fails the step with its name.',
  inputSchema: gateInput,
  outputSchema: z.object({ results: z.array(z.object({ name: z.string(), result: z.enum(['pass', 'fail']), reason: z.string() })) }),
  async execute(ctx) {
    const results = ctx.input.policies.map((p) => {
      try {
        const ok = evalCondition(p.expression, {
          inputs: ctx.runInputs,
          steps: {},
          run: { id: ctx.runId },
          context: ctx.input.context,
        } as never);
        return {
          name: p.name,
          result: ok ? ('pass' as const) : ('fail' as const),
          reason: ok ? 'policy holds' : `policy "${p.expression}" is false`,
        };
      } catch (err) {
        return { name: p.name, result: 'fail' as const, reason: `policy could not be evaluated: ${(err as Error).message}` };
      }
    });
    for (const r of results) ctx.log(`gate ${r.name}: ${r.result} (${r.reason})`);
    const failed = results.filter((r) => r.result === 'fail');
    if (failed.length) return { status: 'failed', error: `gates failed: ${failed.map((f) => f.name).join(', ')}`, retryable: false };
    return { status: 'succeeded', outputs: { results } };
  },
};
