// Example Gantry plugin (plugin API 1): a notification channel. Gantry calls notificationChannels.log
// for every promotion and deployment event of a tenant that has an enabled instance of this plugin;
// the tenant's instance config names the file. Throwing (or crashing) fails only this delivery.
import { appendFile } from 'node:fs/promises';

export const notificationChannels = {
  async log({ event, instanceConfig }) {
    await appendFile(instanceConfig.file, `${JSON.stringify(event)}\n`);
  },
};
