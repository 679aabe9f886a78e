// /healthz, /readyz and /metrics (Prometheus), plus per-request metrics, and the request log that keeps
// their probes (every few seconds, from every load balancer and scraper) at debug level.
import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import type { App, Deps } from './types.js';

export function observabilityRoutes(app: App, { db }: Deps): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gantry_' });
  const requests = new Counter({
    name: 'gantry_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'gantry_http_request_duration_seconds',
    help: 'HTTP request duration by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    duration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  const health = z.object({ status: z.string() });
  app.get(
    '/healthz',
    { config: { access: 'public' }, schema: { tags: ['operations'], summary: 'Liveness', response: { 200: health } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: { tags: ['operations'], summary: 'Readiness: the database answers', response: { 200: health, 503: health } },
    },
    async (_req, reply) => {
      try {
        // Bounded: a database host that drops packets would otherwise hold the probe until TCP gives up.
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('database did not answer within 5 s')), 5_000);
        });
        await Promise.race([db.query('SELECT 1'), timeout]).finally(() => clearTimeout(timer));
        return { status: 'ready' };
      } catch {
        return reply.status(503).send({ status: 'database unavailable' });
      }
    },
  );
  app.get('/metrics', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}

const PROBE = /^\/(healthz|readyz|metrics)(\?|$)/;

/**
 * Fastify's request log, with the probes' "incoming request" and "request completed" lines at debug
 * instead of info: visible with --log-level debug, out of the way otherwise. A failing probe request still
 * logs its error at error level.
 */
export class ProbeQuietLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (!PROBE.test(request.url)) super.incomingRequest(request, reply);
    else if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error || !PROBE.test(request.url)) super.requestCompleted(error, request, reply);
    else if (!this.isLogDisabled(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
