// Notification channels contributed by plugins: an event announced through notify()
// (src/integrations/notify.ts) gets one outbox row per channel of each active plugin that has an enabled
// instance in the event's tenant; the notification dispatcher delivers each through the plugin host's
// RPC (a `notify` call) with deliverToPluginChannel. As with gates and steps, whatever goes wrong in the
// plugin (crash, timeout, a thrown error) fails that one delivery, which is retried and logged with the
// reason; it never reaches notify's caller or the other channels.
import type { NotificationEvent } from '../integrations/notify.js';
import { withTenant } from '../store/db.js';
import type { PluginHost } from './host.js';
import { validateAgainst } from './manifest.js';
import { PluginError } from './process.js';
import { clip } from './rpc.js';
import { PLUGIN_COLUMNS, type PluginRow } from './service.js';

export interface ChannelDelivery {
  plugin: string;
  channel: string;
  ok: boolean;
  /** Why the delivery failed (the plugin crashed, timed out, threw…). */
  error?: string;
}

/**
 * Delivers one event to the notification channels of the tenant's plugin instances (active plugin,
 * enabled instance), all at once; resolves with each delivery's outcome and never rejects for a
 * plugin's failure.
 */
export async function deliverToPluginChannels(
  host: PluginHost,
  tenantId: string,
  event: NotificationEvent,
  at: Date,
): Promise<ChannelDelivery[]> {
  // plugin_instances is tenant-scoped (row-level security): the subquery sees this tenant's instance only.
  const rows = await withTenant(host.db, tenantId, async (tx) => {
    const r = await tx.query<PluginRow & { instance_config: Record<string, unknown> | null }>(
      `SELECT ${PLUGIN_COLUMNS},
              (SELECT i.config FROM plugin_instances i WHERE i.plugin_id = plugins.id AND i.enabled) AS instance_config
         FROM plugins WHERE status = 'active' ORDER BY plugin_id`,
    );
    return r.rows.filter((row) => row.instance_config !== null && row.manifest.contributes.notificationChannels.length > 0);
  });
  const payload = { type: event.type, tenantId, at: at.toISOString(), data: event.data };
  const calls = rows.flatMap((row) =>
    row.manifest.contributes.notificationChannels.map(async (channel): Promise<ChannelDelivery> => {
      const outcome = { plugin: row.plugin_id, channel: channel.name };
      try {
        // No per-use config for a channel yet: its schema's defaults (a schema that requires fields fails here).
        const config = validateAgainst(channel.configSchema, {}, 'config') as Record<string, unknown>;
        await host.call(row, { kind: 'notify', name: channel.name, event: payload, config, instanceConfig: row.instance_config ?? {} });
        return { ...outcome, ok: true };
      } catch (err) {
        const error =
          err instanceof PluginError
            ? err.message
            : `plugin ${row.plugin_id} could not be asked: ${clip((err as Error).message ?? String(err))}`;
        host.logger?.warn({ ...outcome, event: event.type, tenantId, err: error }, 'plugin notification not delivered');
        return { ...outcome, ok: false, error };
      }
    }),
  );
  return Promise.all(calls);
}

/**
 * Delivers one event to one channel of one plugin (the outbox's unit of delivery). Resolves with the
 * outcome and never rejects; a plugin that is no longer active, has no enabled instance in the tenant
 * or no longer has the channel fails the delivery with that reason.
 */
export async function deliverToPluginChannel(
  host: PluginHost,
  tenantId: string,
  pluginId: string,
  channel: string,
  event: NotificationEvent,
  at: Date,
  extra: Record<string, unknown> = {},
): Promise<ChannelDelivery> {
  const outcome = { plugin: pluginId, channel };
  try {
    const row = await withTenant(host.db, tenantId, async (tx) => {
      const r = await tx.query<PluginRow & { instance_config: Record<string, unknown> | null }>(
        `SELECT ${PLUGIN_COLUMNS},
                (SELECT i.config FROM plugin_instances i WHERE i.plugin_id = plugins.id AND i.enabled) AS instance_config
           FROM plugins WHERE status = 'active' AND plugin_id = $1`,
        [pluginId],
      );
      return r.rows[0];
    });
    const def = row?.manifest.contributes.notificationChannels.find((c) => c.name === channel);
    if (!row || row.instance_config === null || !def) {
      return {
        ...outcome,
        ok: false,
        error: `plugin ${pluginId} is not active with an enabled instance and a channel "${channel}" in this tenant`,
      };
    }
    const config = validateAgainst(def.configSchema, {}, 'config') as Record<string, unknown>;
    const payload = { ...extra, type: event.type, tenantId, at: at.toISOString(), data: event.data };
    await host.call(row, { kind: 'notify', name: channel, event: payload, config, instanceConfig: row.instance_config ?? {} });
    return { ...outcome, ok: true };
  } catch (err) {
    const error =
      err instanceof PluginError ? err.message : `plugin ${pluginId} could not be asked: ${clip((err as Error).message ?? String(err))}`;
    host.logger?.warn({ ...outcome, event: event.type, tenantId, err: error }, 'plugin notification not delivered');
    return { ...outcome, ok: false, error };
  }
}
