// Example Gantry plugin (plugin API 1): a change-window gate. Gantry runs this module in a child process
// and calls gates["change-window"] with the promotion context, the environment's gate config and this
// tenant's plugin-instance config; the answer is {status, reason, inputs, retryAt?}.
import { inWindow, localTime, nextOpening } from './window.mjs';

export const gates = {
  async 'change-window'({ context, config, instanceConfig }) {
    const timeZone = instanceConfig.timeZone ?? 'UTC';
    const window = { days: config.days ?? ['mon', 'tue', 'wed', 'thu', 'fri'], fromHour: config.fromHour ?? 9, toHour: config.toHour ?? 17 };
    const now = new Date(context.now);
    const local = localTime(now, timeZone);
    const inputs = { now: context.now, timeZone, window, local };
    if (inWindow(now, window, timeZone)) {
      return { status: 'pass', reason: `inside the change window (${window.days.join(',')} ${window.fromHour}:00–${window.toHour}:00 ${timeZone})`, inputs };
    }
    const next = nextOpening(now, window, timeZone);
    return {
      status: 'pending',
      reason: `outside the change window (${window.days.join(',')} ${window.fromHour}:00–${window.toHour}:00 ${timeZone}); it opens ${next ? next.toISOString() : 'never'}`,
      inputs,
      ...(next ? { retryAt: next.toISOString() } : {}),
    };
  },
};

/** The same window as a workflow step type (plugin.acme-window.check-window): reports, never blocks. */
export const stepTypes = {
  async 'check-window'({ input, instanceConfig, context }) {
    const timeZone = instanceConfig.timeZone ?? 'UTC';
    const window = { days: input.days ?? ['mon', 'tue', 'wed', 'thu', 'fri'], fromHour: input.fromHour ?? 9, toHour: input.toHour ?? 17 };
    const now = new Date(context.now);
    const open = inWindow(now, window, timeZone);
    return { status: 'succeeded', outputs: { open, nextOpening: open ? null : (nextOpening(now, window, timeZone)?.toISOString() ?? null) } };
  },
};
