// HTTP routes for notifications: the outbox with each notification's delivery log, and re-sending.
import { pageOf } from '../http/pagination.js';
import { tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import * as m from './model.js';
import * as svc from './service.js';

export function notificationRoutes(app: App, { db }: Deps): void {
  const tags = ['notifications'];
  const one = { tags, params: m.notificationParam, response: { 200: m.notificationDetail } };

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/notifications',
      access: READ,
      tags,
      summary: 'List notifications (one per event and channel), newest first; status=dead lists dead letters',
      querystring: m.notificationListQuery,
      response: { 200: pageOf(m.notification) },
    },
    (tx, req) => svc.listNotifications(tx, req.query),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/notifications/:id',
      access: READ,
      ...one,
      summary: 'Get a notification with its delivery log (every attempt, its HTTP status and error)',
    },
    (tx, req) => svc.getNotification(tx, req.params.id),
  );
  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/notifications/:id/resend',
      access: RELEASE_WRITE,
      ...one,
      summary: 'Queue a dead or delivered notification again (same Idempotency-Key); 409 while it is still pending',
    },
    (tx, req) => svc.resendNotification(tx, req.params.id),
  );
}
