// Workflow step types contributed by plugins, registered into the engine's StepRegistry through the
// same StepType interface as the built-ins (type plugin.<pluginId>.<name>). A crash or timeout fails
// the step (retryable), never the engine.
import { z } from 'zod';
import type { StepRegistry, StepType } from '../engine/index.js';
import { withTenant } from '../store/db.js';
import type { PluginHost } from './host.js';
import { validateAgainst } from './manifest.js';
import { PluginError } from './process.js';
import { clip } from './rpc.js';
import { type PluginRow, tenantUse } from './service.js';

const answer = z.union([
  z.object({ status: z.literal('succeeded'), outputs: z.record(z.string(), z.unknown()).default({}) }),
  z.object({ status: z.literal('failed'), error: z.string().min(1), retryable: z.boolean().optional() }),
]);

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

export function pluginStepType(
  host: PluginHost,
  pluginId: string,
  name: string,
  description: string,
  schema?: Record<string, unknown>,
): StepType<Input, Output> {
  return {
    type: `plugin.${pluginId}.${name}`,
    description: description || `Step "${name}" of plugin ${pluginId}`,
    inputSchema: z.record(z.string(), z.unknown()),
    outputSchema: z.record(z.string(), z.unknown()),
    async execute(ctx) {
      try {
        const input = validateAgainst(schema, ctx.input, 'input') as Input;
        const use = await withTenant(host.db, ctx.tenantId, (tx) => tenantUse(tx, pluginId));
        if (!use.plugin) return { status: 'failed', error: `plugin ${pluginId} is not installed`, retryable: false };
        if (!use.instance?.enabled) {
          return {
            status: 'failed',
            error: `plugin ${pluginId} is not enabled in this tenant (gantry plugin instance create ${pluginId})`,
            retryable: false,
          };
        }
        const raw = await host.call(use.plugin, {
          kind: 'step',
          name,
          input,
          instanceConfig: use.instance.config,
          context: {
            tenantId: ctx.tenantId,
            runId: ctx.runId,
            stepRunId: ctx.stepRunId,
            nodeId: ctx.nodeId,
            attempt: ctx.attempt,
            runInputs: ctx.runInputs,
            now: ctx.now().toISOString(),
          },
        });
        const parsed = answer.safeParse(raw);
        if (!parsed.success) return { status: 'failed', error: `plugin ${pluginId} gave a malformed step result`, retryable: false };
        return parsed.data.status === 'succeeded'
          ? { status: 'succeeded', outputs: parsed.data.outputs }
          : { status: 'failed', error: clip(parsed.data.error), retryable: parsed.data.retryable ?? false };
      } catch (err) {
        const crashed = err instanceof PluginError && (err.kind === 'crashed' || err.kind === 'timed_out');
        return { status: 'failed', error: clip((err as Error).message ?? String(err)), retryable: crashed };
      }
    },
  };
}

/** Registers the step types of installed plugins not yet in the registry; called on every plugin refresh. */
export function registerPluginSteps(registry: StepRegistry, host: PluginHost, rows: PluginRow[]): void {
  for (const row of rows) {
    for (const s of row.manifest.contributes.stepTypes) {
      const t = pluginStepType(host, row.plugin_id, s.name, s.description, s.configSchema);
      if (!registry.has(t.type)) registry.register(t);
    }
  }
}

export function attachPluginSteps(registry: StepRegistry, host: PluginHost): void {
  host.onChange((rows) => registerPluginSteps(registry, host, rows));
}
