// HTTP routes for notifications: the outbox with each notification's delivery log, and re-sending.
import { caller } from '../http/caller.js';
import { pageOf } from '../http/pagination.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import { withTenant } from '../store/db.js';
import * as m from './model.js';
import * as svc from './service.js';

export function notificationRoutes(app: App, deps: Deps): void {
  const { db } = deps;
  const tags = ['notifications'];

  app.get(
    '/api/v1/notifications',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'List notifications (one per event and channel), newest first; status=dead lists dead letters',
        querystring: m.notificationListQuery,
        response: { 200: pageOf(m.notification) },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.listNotifications(tx, req.query)),
  );

  app.get(
    '/api/v1/notifications/:id',
    {
      config: { access: READ },
      schema: {
        tags,
        summary: 'Get a notification with its delivery log (every attempt, its HTTP status and error)',
        params: m.notificationParam,
        response: { 200: m.notificationDetail },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.getNotification(tx, req.params.id)),
  );

  app.post(
    '/api/v1/notifications/:id/resend',
    {
      config: { access: RELEASE_WRITE },
      schema: {
        tags,
        summary: 'Queue a dead or delivered notification again (same Idempotency-Key); 409 while it is still pending',
        params: m.notificationParam,
        response: { 200: m.notificationDetail },
      },
    },
    async (req) => withTenant(db, caller(req).tenantId, (tx) => svc.resendNotification(tx, req.params.id)),
  );
}
