// Gate results: status, reason, what would unblock a gate that does not pass, and the inputs it saw.
import type { GateResult } from '../api/types';
import { Badge, Time } from './ui';

const UNBLOCK: Record<string, string> = {
  environment_order:
    'Deploy this release to the previous environment first (or set requirePreviousEnvironment: false on this environment).',
  approvals: 'Approvers approve the promotion on its page (each person counts once).',
  required_approvals: 'Approvers approve the promotion on its page (each person counts once).',
  separation_of_duties: 'An approver other than the requester and the release creator must approve.',
  freeze_window: 'Wait for the freeze window to end (re-evaluated automatically), or ask an admin for an emergency override.',
  release_status: 'Make the release ready (pin its digests); a deprecated release cannot be promoted.',
  security_verdict: "Fix the findings and rescan, or adjust the scanner's thresholds.",
  policy: 'Change the promotion so the policy expression holds, or update the policy.',
  webhook: 'The external policy service must allow it; see its reason.',
};

export function unblockHint(g: GateResult): string | undefined {
  if (g.status === 'pass') return undefined;
  const base = g.gate.split(':')[0] ?? g.gate;
  return UNBLOCK[base] ?? (g.status === 'pending' ? 'Re-evaluated automatically until it passes.' : undefined);
}

export function GateList({ gates, caption }: { gates: GateResult[]; caption?: string }) {
  if (gates.length === 0) return <p className="muted">No gates evaluated yet.</p>;
  return (
    <div className="table-wrap">
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
          {gates.map((g) => (
            <tr key={g.gate} data-testid={`gate-${g.gate}`}>
              <td>
                <code>{g.gate}</code>
                {g.policyVersion ? <div className="small muted">policy {g.policyVersion.slice(0, 12)}</div> : null}
              </td>
              <td>
                <Badge status={g.status} />
              </td>
              <td>
                {g.reason}
                <details>
                  <summary className="small muted">inputs</summary>
                  <pre>{JSON.stringify(g.inputs, null, 2)}</pre>
                </details>
              </td>
              <td className="small">
                {unblockHint(g) ?? <span className="muted">—</span>}
                {g.retryAt ? (
                  <div>
                    re-evaluated <Time at={g.retryAt} />
                  </div>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
