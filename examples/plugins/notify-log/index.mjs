// Example Gantry plugin (plugin API 1): a notification channel. Gantry calls notificationChannels.log
// for every promotion and deployment event of a tenant that has an enabled instance of this plugin;
// the tenant's instance config names the file, which lives in the plugin's work directory (the only
// place a plugin may write: GANTRY_PLUGIN_WORK_DIR). Throwing (or crashing) fails only this delivery.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';

export const notificationChannels = {
  async log({ event, instanceConfig }) {
    const dir = process.env.GANTRY_PLUGIN_WORK_DIR ?? process.cwd();
    await appendFile(path.join(dir, path.basename(instanceConfig.file)), `${JSON.stringify(event)}\n`);
  },
};
