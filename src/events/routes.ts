// HTTP routes for live updates: trade the token for a stream ticket, then one server-sent-events stream
// per page session with every change of the tenant (kind and id), heartbeat comments, and the end of the
// stream when the token stops being valid. A client that reconnects reloads what it shows (a ticket is
// good for one stream, so there is no Last-Event-ID resume).
import { z } from 'zod';
import { caller } from '../http/caller.js';
import { apiRoute } from '../http/resource.js';
import { type App, type Deps, READ } from '../http/types.js';
import { ticketKeyOf } from '../tenancy/auth.js';
import { authenticateTokenId } from '../tenancy/service.js';
import type { ChangeHub } from './hub.js';
import { issueTicket, TICKET_TTL_SECONDS } from './service.js';

const ticketResult = z.object({
  ticket: z.string().describe('Opens one stream: GET /api/v1/events/stream?ticket=…'),
  expiresAt: z.string(),
  streamUrl: z.string(),
});

/** Seconds between heartbeat comments (and checks that the stream's token is still valid). */
export function heartbeatSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.GANTRY_EVENTS_HEARTBEAT_SECONDS ?? 15);
  return Number.isFinite(n) && n >= 1 && n <= 300 ? n : 15;
}

export function eventRoutes(app: App, deps: Deps, hub: ChangeHub): void {
  const tags = ['events'];
  // Open streams never end by themselves: end them when the server closes, so shutdown does not wait on them.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/events/ticket',
      access: READ,
      tags,
      summary: `A one-use ticket (valid ${TICKET_TTL_SECONDS} s) to open the event stream, which a browser's EventSource cannot authenticate with a header`,
      response: { 201: ticketResult },
      status: 201,
    },
    async (_req, a) => {
      const t = issueTicket(ticketKeyOf(deps), a, deps.clock.now());
      return { ...t, streamUrl: `/api/v1/events/stream?ticket=${encodeURIComponent(t.ticket)}` };
    },
  );

  app.get(
    '/api/v1/events/stream',
    {
      config: { access: READ, streamTicket: true },
      schema: {
        tags,
        summary: 'Server-sent events (text/event-stream): every change of the tenant as `event: change`, `data: {"kind","id"}`',
        description:
          'Authenticated by a ticket from POST /api/v1/events/ticket (not the bearer header). Sends `event: ready` first, a `: heartbeat` comment ' +
          'every 15 s, `event: change` per committed change (kinds: promotion, approval, gate_override, deployment, deployment_task, release, ' +
          'environment, evidence, sticker, workflow_run, step_run, target, agent; `resync` when changes may have been missed), and ' +
          '`event: unauthorized` before it ends when the token was revoked or expired. Reload what you show after reconnecting.',
        querystring: z.strictObject({ ticket: z.string().min(1).max(200) }),
      },
    },
    async (req, reply) => {
      const auth = caller(req);
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': req.id,
      });
      const send = (chunk: string) => {
        if (!raw.writableEnded) raw.write(chunk);
      };
      let closed = false;
      let unsubscribe: (() => void) | undefined;
      const end = () => {
        if (closed) return;
        closed = true;
        open.delete(end);
        clearInterval(beat);
        unsubscribe?.();
        if (!raw.writableEnded) raw.end();
      };
      const beat = setInterval(() => {
        authenticateTokenId(deps.db, auth.tokenId, deps.clock.now()).then(
          () => send(': heartbeat\n\n'),
          (err: Error) => {
            send(`event: unauthorized\ndata: ${JSON.stringify({ detail: err.message })}\n\n`);
            end();
          },
        );
      }, heartbeatSeconds() * 1000);
      open.add(end);
      req.raw.on('close', end);
      try {
        unsubscribe = await hub.subscribe(auth.tenantId, (c) => send(`event: change\ndata: ${JSON.stringify(c)}\n\n`));
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, 'event stream: change feed unavailable');
        send(`event: error\ndata: ${JSON.stringify({ detail: 'live updates are unavailable; reload to see changes' })}\n\n`);
        end();
        return;
      }
      if (closed) {
        unsubscribe();
        return;
      }
      send(`retry: 3000\nevent: ready\ndata: ${JSON.stringify({ tenant: auth.tenantName })}\n\n`);
    },
  );
}
