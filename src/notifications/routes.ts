// HTTP routes for notifications: the outbox with each notification's delivery log, and re-sending.
import { resourceRoutes, tenantRoute } from '../http/resource.js';
import { type App, type Deps, READ, RELEASE_WRITE } from '../http/types.js';
import * as m from './model.js';
import * as svc from './service.js';

export function notificationRoutes(app: App, { db }: Deps): void {
  const tags = ['notifications'];
  resourceRoutes(app, db, {
    path: '/api/v1/notifications',
    tags,
    access: { read: READ, write: RELEASE_WRITE },
    item: m.notificationDetail,
    ref: m.notificationParam,
    list: {
      summary: 'List notifications (one per event and channel), newest first; status=dead lists dead letters',
      item: m.notification,
      querystring: m.notificationListQuery,
      run: (tx, q) => svc.listNotifications(tx, q),
    },
    get: {
      summary: 'Get a notification with its delivery log (every attempt, its HTTP status and error)',
      run: (tx, { id }) => svc.getNotification(tx, id),
    },
  });

  tenantRoute(
    app,
    db,
    {
      method: 'POST',
      url: '/api/v1/notifications/:id/resend',
      access: RELEASE_WRITE,
      tags,
      summary: 'Queue a dead or delivered notification again (same Idempotency-Key); 409 while it is still pending',
      params: m.notificationParam,
      response: { 200: m.notificationDetail },
    },
    (tx, req) => svc.resendNotification(tx, req.params.id),
  );
}
