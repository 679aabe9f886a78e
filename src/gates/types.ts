// The gate interface: every gate (built in or from a plugin) is a module that looks at a promotion's
// context and answers pass, fail or pending, with a reason and the inputs it saw.
import type { Clock } from '../core/clock.js';
import type { Outbound } from '../http/outbound.js';
import type { Db, Tx } from '../store/db.js';

export type GateStatus = 'pass' | 'fail' | 'pending';

export interface GateResult {
  /** The gate's id as configured, e.g. "freeze_window" or "plugin.acme-change-window.window". */
  gate: string;
  status: GateStatus;
  /** Human-readable: why it passed, failed or waits, and for a pending gate what would unblock it. */
  reason: string;
  /** What the gate looked at; part of the decision record and the evidence. Never holds secrets. */
  inputs: Record<string, unknown>;
  /** For a pending gate: when it may pass on its own (e.g. a freeze window's end), ISO 8601. */
  retryAt?: string;
  /** Version of the policy the gate applied (e.g. a hash of a CEL expression), for the decision record. */
  policyVersion?: string;
}

export interface ComponentPin {
  component: string;
  imageRepository: string;
  tag: string | null;
  semver: string | null;
  digest: string;
}

export interface Actor {
  id: string;
  username: string;
}

/** Everything a gate may look at, assembled once per evaluation. */
export interface PromotionContext {
  tenantId: string;
  promotion: { id: string; reason: string; requestedBy: Actor; requestedAt: string };
  release: {
    id: string;
    name: string;
    status: 'draft' | 'ready' | 'deployed' | 'deprecated';
    createdBy: Actor | null;
    components: ComponentPin[];
    sourceRef: Record<string, unknown> | null;
  };
  environment: {
    id: string;
    name: string;
    orderIndex: number;
    config: Record<string, unknown>;
    freezeWindows: unknown[];
    requiredApprovals: number;
    requireSod: boolean;
  };
  /** The environment before this one in promotion order, and whether this release deployed there. */
  previousEnvironment: { id: string; name: string; releaseDeployed: boolean } | null;
  /** planHash: the deployment plan the approver saw (null for approvals given before plans existed). */
  approvals: { approver: Actor; action: 'approved' | 'rejected'; comment: string; at: string; planHash: string | null }[];
  /**
   * The deployment plan as it is now (null when none can be made, e.g. no targets): its hash, and when it
   * differs from the plan recorded before, that hash and what changed. Approvals count only for this hash.
   */
  plan: { hash: string; previousHash: string | null; changes: string[]; summary: Record<string, number> } | null;
  /** Active emergency overrides for this promotion. */
  overrides: { gate: string; by: Actor; reason: string; expiresAt: string }[];
  now: string;
}

export interface GateDeps {
  db: Db;
  clock: Clock;
  /** The door for requests to tenant-configured services; without one, private and loopback addresses are refused. */
  outbound?: Outbound | undefined;
  /**
   * The caller's tenant transaction, when the gates are evaluated inside one: gates read through it
   * (e.g. their integration) instead of taking another pooled connection while the caller holds one.
   */
  tx?: Tx | undefined;
}

export interface Gate<C = unknown> {
  id: string;
  description: string;
  /** Validates the gate's per-environment config; throws a readable Error when it is wrong. */
  parseConfig?(config: unknown): C;
  evaluate(ctx: PromotionContext, config: C, deps: GateDeps): Promise<Omit<GateResult, 'gate'>>;
}

/** A gate as an environment configures it: its id, or {id, config}. */
export type GateRef = string | { id: string; config?: unknown };
