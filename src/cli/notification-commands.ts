// `gantry notification list|get|resend`: the notification outbox, each notification's delivery log, and
// re-sending dead letters.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { printRecord, printTable } from './output.js';

interface Notification {
  id: string;
  event: string;
  subject: string;
  channel: string;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  deliveredAt: string | null;
  occurredAt: string;
  deliveries?: { attempt: number; startedAt: string; ok: boolean; httpStatus: number | null; error: string | null }[];
}

function printNotification(n: Notification): void {
  printRecord({
    id: n.id,
    event: n.event,
    subject: n.subject,
    channel: n.channel,
    status: n.status,
    attempts: n.attempts,
    nextAttempt: n.nextAttemptAt,
    lastError: n.lastError,
    occurredAt: n.occurredAt,
    deliveredAt: n.deliveredAt,
  });
  if (n.deliveries?.length) {
    process.stdout.write('\n');
    printTable(n.deliveries, [
      ['ATTEMPT', (d) => d.attempt],
      ['AT', (d) => d.startedAt],
      ['RESULT', (d) => (d.ok ? 'delivered' : 'failed')],
      ['HTTP', (d) => d.httpStatus],
      ['ERROR', (d) => d.error],
    ]);
  }
}

export function registerNotificationCommands(program: Command): void {
  const notification = program
    .command('notification')
    .description('Notifications: one per event and channel, delivered at least once with a stable Idempotency-Key, in order per subject');

  apiCommand(notification, 'list', 'List notifications, newest first', [
    'gantry notification list --status dead      # dead letters: gave up after the last attempt',
    'gantry notification list --status pending   # queued or retrying',
    'gantry notification list --subject promotion:0190… --json',
  ])
    .option('--status <status>', 'pending | delivered | dead')
    .option('--event <type>', 'event type, e.g. promotion.approved')
    .option('--subject <subject>', 'promotion:<id> or deployment:<id>')
    .option('--channel <name>', 'integration name, or plugin/channel')
    .action(async (opts: ApiOpts & { status?: string; event?: string; subject?: string; channel?: string }) => {
      const items = await clientFor(opts).listAll<Notification>('/notifications', {
        status: opts.status,
        event: opts.event,
        subject: opts.subject,
        channel: opts.channel,
      });
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['ID', (n) => n.id],
          ['EVENT', (n) => n.event],
          ['SUBJECT', (n) => n.subject],
          ['CHANNEL', (n) => n.channel],
          ['STATUS', (n) => n.status],
          ['ATTEMPTS', (n) => n.attempts],
          ['LAST ERROR', (n) => n.lastError],
        ]),
      );
    });

  apiCommand(notification, 'get <id>', 'Show a notification with its delivery log', ['gantry notification get 0190…']).action(
    async (id: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).get<Notification>(`/notifications/${ref(id)}`), printNotification);
    },
  );

  apiCommand(notification, 'resend <id>', 'Queue a dead (or delivered) notification again, with the same Idempotency-Key', [
    'gantry notification resend 0190…',
  ]).action(async (id: string, opts: ApiOpts) => {
    const n = await clientFor(opts).post<Notification>(`/notifications/${ref(id)}/resend`, {});
    emit(opts, n, () => process.stdout.write(`queued notification ${n.id} (${n.event} → ${n.channel}) again\n`));
  });
}
