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
