// Gate results: status, reason, what would unblock a gate that does not pass, and the inputs it saw.
// An overridden gate says so (badge, who, why, until when) instead of looking like a plain pass.
import type { GateResult } from '../api/types';
import { localizeTimes, When } from './format';
import { Badge, ScrollPre } from './ui';

/** Gates that need people; no emergency override applies to them. */
export const PEOPLE_GATES = new Set(['approvals', 'separation_of_duties']);

const UNBLOCK: Record<string, string> = {
  environment_order:
    'Deploy this release to the previous environment first (or set requirePreviousEnvironment: false on this environment).',
  approvals: 'Approvers approve the promotion on its page (each person counts once).',
  required_approvals: 'Approvers approve the promotion on its page (each person counts once).',
  separation_of_duties: 'An approver other than the requester and the release creator must approve.',
  freeze_window: 'Wait for the freeze window to end (the promotion continues by itself), or use an emergency override.',
  release_status: 'Make the release ready (pin its digests); a deprecated release cannot be promoted.',
  security_verdict: "Fix the findings and rescan, or adjust the scanner's thresholds.",
  policy: 'Change the promotion so the policy expression holds, or update the policy.',
  webhook: 'The external policy service must allow it; see its reason.',
};

export interface GateOverride {
  by: string;
  reason: string;
  expiresAt: string;
}

/** The active override a gate result carries in its inputs, if any. */
export function overrideOf(g: GateResult): GateOverride | undefined {
  const o = (g.inputs as { override?: unknown }).override;
  if (!o || typeof o !== 'object') return undefined;
  const { by, reason, expiresAt } = o as Record<string, unknown>;
  return typeof by === 'string' && typeof reason === 'string' && typeof expiresAt === 'string' ? { by, reason, expiresAt } : undefined;
}

export function unblockHint(g: GateResult): string | undefined {
  if (g.status === 'pass') return undefined;
  const base = g.gate.split(':')[0] ?? g.gate;
  return UNBLOCK[base] ?? (g.status === 'pending' ? 'Re-evaluated automatically until it passes.' : undefined);
}

export function GateStatus({ g }: { g: GateResult }) {
  const o = overrideOf(g);
  return (
    <span className="row" style={{ gap: '0.25rem' }}>
      <Badge status={g.status} />
      {o ? <Badge status="overridden" label="overridden" /> : null}
    </span>
  );
}

export function GateList({
  gates,
  caption,
  unblock,
}: {
  gates: GateResult[];
  caption?: string;
  unblock?: (g: GateResult) => string | undefined;
}) {
  if (gates.length === 0) return <p className="muted">No gates evaluated yet.</p>;
  return (
    <div className="table-wrap cards">
      <table>
        {caption ? <caption className="sr-only">{caption}</caption> : null}
        <thead>
          <tr>
            <th scope="col">Gate</th>
            <th scope="col">Result</th>
            <th scope="col">Reason</th>
            <th scope="col">What would unblock it</th>
          </tr>
        </thead>
        <tbody>
          {gates.map((g) => {
            const o = overrideOf(g);
            const hint = (unblock ?? unblockHint)(g);
            return (
              <tr key={g.gate} data-testid={`gate-${g.gate}`} data-status={g.status} data-overridden={o ? 'true' : undefined}>
                <td data-label="Gate">
                  <code>{g.gate}</code>
                  {g.policyVersion ? <div className="small muted digest">policy {g.policyVersion}</div> : null}
                </td>
                <td data-label="Result">
                  <GateStatus g={g} />
                </td>
                <td data-label="Reason">
                  {o ? (
                    <>
                      Overridden by <strong>{o.by}</strong> until <When at={o.expiresAt} />: “{o.reason}”
                    </>
                  ) : (
                    localizeTimes(g.reason)
                  )}
                  <details>
                    <summary className="small muted">inputs</summary>
                    <ScrollPre label={`Inputs of ${g.gate}`}>{JSON.stringify(g.inputs, null, 2)}</ScrollPre>
                  </details>
                </td>
                <td data-label="What would unblock it" className="small">
                  {hint ?? <span className="muted">—</span>}
                  {g.retryAt && g.status !== 'pass' ? (
                    <div data-testid="gate-continues">
                      continues at <When at={g.retryAt} />
                    </div>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
