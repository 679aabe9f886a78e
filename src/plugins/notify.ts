// Notification channels contributed by plugins: every event announced through notify()
// (src/integrations/notify.ts) is delivered to each channel of each active plugin that has an enabled
// instance in the event's tenant, through the plugin host's RPC (a `notify` call). As with gates and
// steps, whatever goes wrong in the plugin (crash, timeout, a thrown error) fails that one delivery,
// which is logged with the reason; it never reaches notify's caller or the other channels.
import { addNotificationSink, type NotificationEvent } from '../integrations/notify.js';
import { type Db, withTenant } from '../store/db.js';
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

// Every plugin host of a database reads the same plugin rows; one of them delivers, so an event is not
// sent twice when several hosts share a database (tests, several apps in one process).
const hostsByDb = new WeakMap<Db, PluginHost[]>();
const removers = new WeakMap<Db, () => void>();

/**
 * Makes `host` deliver notify() events of its database to plugin notification channels (the PluginHost
 * does this itself when constructed). Returns the function that detaches it, e.g. on close.
 */
export function attachPluginNotifications(host: PluginHost): () => void {
  const db = host.db;
  let hosts = hostsByDb.get(db);
  if (!hosts) {
    hosts = [];
    hostsByDb.set(db, hosts);
  }
  hosts.push(host);
  if (!removers.has(db)) {
    removers.set(
      db,
      addNotificationSink(db, async (tenantId, event, at) => {
        const current = hostsByDb.get(db)?.[0];
        if (current) await deliverToPluginChannels(current, tenantId, event, at);
      }),
    );
  }
  return () => {
    const list = hostsByDb.get(db);
    const i = list?.indexOf(host) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) {
      removers.get(db)?.();
      removers.delete(db);
      hostsByDb.delete(db);
    }
  };
}
