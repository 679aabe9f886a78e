// Notifications: schemas of the outbox API (each notification with its delivery log).
import { z } from 'zod';
import { pageQuery } from '../http/pagination.js';

export const NOTIFICATION_STATUSES = ['pending', 'delivered', 'dead'] as const;

export const deliveryAttempt = z.object({
  attempt: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string(),
  ok: z.boolean(),
  httpStatus: z.number().int().nullable(),
  error: z.string().nullable(),
});

export const notification = z.object({
  id: z.uuid().describe('Also the Idempotency-Key header of every delivery of this notification.'),
  eventId: z.uuid().describe('The event; one event fans out to one notification per channel.'),
  event: z.string(),
  subject: z.string().describe('What the event is about (promotion:<id>, deployment:<id>); delivery is in order per channel and subject.'),
  data: z.record(z.string(), z.unknown()),
  occurredAt: z.string(),
  channelKind: z.enum(['webhook', 'plugin']),
  channel: z.string().describe('The integration name, or plugin/channel.'),
  integrationId: z.string().nullable(),
  status: z.enum(NOTIFICATION_STATUSES).describe('pending (queued or retrying), delivered, or dead (gave up; re-sendable).'),
  attempts: z.number().int().describe('Attempts since it was queued or last re-sent.'),
  nextAttemptAt: z.string().nullable(),
  lastError: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  createdAt: z.string(),
});

export const notificationDetail = notification.extend({ deliveries: z.array(deliveryAttempt) });

export const notificationListQuery = pageQuery.extend({
  status: z.enum(NOTIFICATION_STATUSES).optional(),
  event: z.string().min(1).max(100).optional().describe('Event type, e.g. promotion.approved.'),
  subject: z.string().min(1).max(200).optional().describe('e.g. promotion:<id>'),
  channel: z.string().min(1).max(200).optional().describe('Integration name or plugin/channel.'),
});

export const notificationParam = z.strictObject({ id: z.uuid({ message: 'must be a notification id' }) });
