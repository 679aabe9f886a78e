// Gates contributed by plugins, behind the same Gate interface as the built-ins. Each is registered as
// plugin.<pluginId>.<gateName>; evaluation goes to the plugin's process, and whatever goes wrong there
// (crash, timeout, a thrown error, a malformed answer) becomes this gate's failure with the reason.
import { z } from 'zod';
import type { Gate, GateResult } from '../gates/types.js';
import { withTenant } from '../store/db.js';
import type { PluginHost } from './host.js';
import { validateAgainst } from './manifest.js';
import { PluginError } from './process.js';
import { clip } from './rpc.js';
import { type PluginRow, tenantUse } from './service.js';

export const PLUGIN_GATE_PREFIX = 'plugin.';
export const pluginGateId = (pluginId: string, name: string) => `${PLUGIN_GATE_PREFIX}${pluginId}.${name}`;

const answer = z.object({
  status: z.enum(['pass', 'fail', 'pending']),
  reason: z.string().min(1).max(2000),
  inputs: z.record(z.string(), z.unknown()).default({}),
  retryAt: z.iso.datetime({ offset: true }).optional(),
  policyVersion: z.string().max(200).optional(),
});

type Verdict = Omit<GateResult, 'gate'>;

const fail = (reason: string, inputs: Record<string, unknown>): Verdict => ({ status: 'fail', reason, inputs });

/** One Gate object for a gate a plugin's manifest declares. */
export function pluginGate(
  host: PluginHost,
  row: PluginRow,
  name: string,
  description: string,
  schema?: Record<string, unknown>,
): Gate<unknown> {
  const pluginId = row.plugin_id;
  return {
    id: pluginGateId(pluginId, name),
    description: description || `Gate "${name}" of plugin ${pluginId}`,
    parseConfig: (config) => validateAgainst(schema, config ?? {}, 'config'),
    async evaluate(ctx, config, deps) {
      const seen = { plugin: pluginId, gate: name };
      try {
        const use = await withTenant(deps.db, ctx.tenantId, (tx) => tenantUse(tx, pluginId));
        if (!use.plugin) return fail(`plugin ${pluginId} is not installed`, seen);
        const inputs = { ...seen, version: use.plugin.version };
        if (!use.instance) {
          return fail(
            `plugin ${pluginId} is not set up in this tenant: an admin creates its instance (gantry plugin instance create ${pluginId})`,
            inputs,
          );
        }
        if (!use.instance.enabled) return fail(`plugin ${pluginId} is disabled in this tenant`, inputs);
        const raw = await host.call(use.plugin, { kind: 'gate', name, context: ctx, config, instanceConfig: use.instance.config });
        const parsed = answer.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          return fail(
            `plugin ${pluginId} gave a malformed gate answer: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`.trim(),
            inputs,
          );
        }
        const { retryAt, policyVersion, ...rest } = parsed.data;
        return {
          ...rest,
          reason: clip(rest.reason, 2000),
          inputs: { ...rest.inputs, ...inputs },
          ...(retryAt ? { retryAt } : {}),
          ...(policyVersion ? { policyVersion } : {}),
        };
      } catch (err) {
        // Never past the gate: a plugin problem fails this gate only.
        const reason =
          err instanceof PluginError
            ? err.message
            : `plugin ${pluginId} could not be asked: ${clip((err as Error).message ?? String(err))}`;
        return fail(reason, seen);
      }
    },
  };
}

/** The gates of every installed plugin (whatever its status: a disabled one fails with that reason). */
export function pluginGates(host: PluginHost, rows: PluginRow[]): Gate<unknown>[] {
  return rows.flatMap((row) => row.manifest.contributes.gates.map((g) => pluginGate(host, row, g.name, g.description, g.configSchema)));
}

/** The part of the gate registry plugins need; src/gates' GateRegistry has it. */
export interface GateSink {
  replacePrefix(prefix: string, gates: Gate<any>[]): void; // any: each gate has its own config type
}

/**
 * Keeps a gate registry in step with the installed plugins: registers their gates now (after the
 * host's next refresh) and whenever a plugin is installed, enabled or disabled, here or on another replica.
 */
export function attachPluginGates(registry: GateSink, host: PluginHost): void {
  host.onChange((rows) => registry.replacePrefix(PLUGIN_GATE_PREFIX, pluginGates(host, rows)));
}
