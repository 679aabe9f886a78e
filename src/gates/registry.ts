// The gate registry and the evaluator: which gates an environment applies, each evaluated with its
// config; an error inside a gate becomes that gate's failure, never the caller's.
import { approvalsGate, environmentOrderGate, policyGate, releaseStatusGate, separationOfDutiesGate } from './builtin.js';
import { securityVerdictGate, webhookGate } from './external.js';
import { freezeWindowGate } from './freeze.js';
import type { Gate, GateDeps, GateRef, GateResult, PromotionContext } from './types.js';

/** Gates that wait for people rather than for time or systems. */
export const APPROVAL_GATES = new Set(['approvals', 'separation_of_duties']);
export const DEFAULT_GATES: GateRef[] = ['environment_order', 'release_status', 'approvals', 'separation_of_duties', 'freeze_window'];

export class GateRegistry {
  private readonly gates = new Map<string, Gate<any>>(); // any: each gate has its own config type

  register(gate: Gate<any>): this {
    if (this.gates.has(gate.id)) throw new Error(`gate "${gate.id}" is registered twice`);
    this.gates.set(gate.id, gate);
    return this;
  }

  /** Replaces the gates under a prefix (plugins re-register when they are enabled or disabled). */
  replacePrefix(prefix: string, gates: Gate<any>[]): void {
    for (const id of [...this.gates.keys()]) if (id.startsWith(prefix)) this.gates.delete(id);
    for (const g of gates) this.gates.set(g.id, g);
  }

  get(id: string): Gate<any> | undefined {
    return this.gates.get(id);
  }

  list(): { id: string; description: string }[] {
    return [...this.gates.values()].map((g) => ({ id: g.id, description: g.description }));
  }
}

export function builtinGates(): GateRegistry {
  return new GateRegistry()
    .register(environmentOrderGate)
    .register(releaseStatusGate)
    .register(approvalsGate)
    .register(separationOfDutiesGate)
    .register(freezeWindowGate)
    .register(policyGate)
    .register(securityVerdictGate)
    .register(webhookGate);
}

export function gateRefs(envConfig: Record<string, unknown>): GateRef[] {
  const configured = envConfig.gates as GateRef[] | undefined;
  return configured && configured.length > 0 ? configured : DEFAULT_GATES;
}

/** Validates an environment's gate list against the registry; returns messages for what is wrong. */
export function checkGateRefs(registry: GateRegistry, refs: GateRef[]): string[] {
  const problems: string[] = [];
  refs.forEach((ref, i) => {
    const id = typeof ref === 'string' ? ref : ref.id;
    const gate = registry.get(id);
    if (!gate) {
      // Plugin gates may be registered later (when their plugin is enabled); others must exist now.
      if (!id.startsWith('plugin.'))
        problems.push(
          `gates.${i}: unknown gate "${id}" (known: ${registry
            .list()
            .map((g) => g.id)
            .join(', ')})`,
        );
      return;
    }
    if (gate.parseConfig) {
      try {
        gate.parseConfig(typeof ref === 'string' ? {} : (ref.config ?? {}));
      } catch (err) {
        problems.push(`gates.${i} (${id}): ${(err as Error).message.split('\n')[0]}`);
      }
    }
  });
  return problems;
}

/**
 * Evaluates the gates concurrently (an external gate waits on its service with its own timeout, not on
 * the gates before it); the results keep the configured order.
 */
export async function evaluateGates(
  registry: GateRegistry,
  refs: GateRef[],
  ctx: PromotionContext,
  deps: GateDeps,
  include: (id: string) => boolean = () => true,
): Promise<GateResult[]> {
  const one = async (ref: GateRef): Promise<GateResult> => {
    const id = typeof ref === 'string' ? ref : ref.id;
    const gate = registry.get(id);
    if (!gate)
      return { gate: id, status: 'fail', reason: `gate "${id}" is not available (is its plugin installed and enabled?)`, inputs: {} };
    try {
      const config = gate.parseConfig ? gate.parseConfig(typeof ref === 'string' ? {} : (ref.config ?? {})) : undefined;
      return { gate: id, ...(await gate.evaluate(ctx, config, deps)) };
    } catch (err) {
      return { gate: id, status: 'fail', reason: `gate "${id}" could not be evaluated: ${(err as Error).message}`, inputs: {} };
    }
  };
  return Promise.all(refs.filter((ref) => include(typeof ref === 'string' ? ref : ref.id)).map(one));
}
