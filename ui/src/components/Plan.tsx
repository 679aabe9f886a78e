// A deployment plan: per target (in batch order) and component what the deployment will do — create,
// recreate, leave unchanged or remove — with the image digest from → to and why; skipped targets with
// why; the plan hash approvals are for, and each time the plan changed before the decision.
import type { DeploymentPlan, PromotionPlan } from '../api/types';
import { localizeTimes, When } from './format';
import { Badge } from './ui';

const short = (d: string | null) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '—');

export function PlanTable({ plan, changes }: { plan: DeploymentPlan; changes?: PromotionPlan['changes'] }) {
  const s = plan.summary;
  return (
    <section className="panel" aria-labelledby="plan-title" data-testid="plan">
      <h2 id="plan-title" style={{ marginTop: 0 }}>
        Deployment plan
      </h2>
      <p data-testid="plan-summary">
        {plan.strategy.replaceAll('_', ' ')}, {plan.batchCount} batch(es): <strong>{s.deploy}</strong> target(s) change, {s.unchanged}{' '}
        unchanged, {s.skip} skipped · {s.create} container(s) created, {s.recreate} recreated, {s.removeComponents} removed
      </p>
      <table>
        <caption className="sr-only">What the deployment does per target and component</caption>
        <thead>
          <tr>
            <th scope="col">Target</th>
            <th scope="col">Batch</th>
            <th scope="col">Component</th>
            <th scope="col">Action</th>
            <th scope="col">Image digest</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {plan.targets.map((t) =>
            t.components.length === 0 ? (
              <tr key={t.targetId} data-testid="plan-row" data-target={t.name} data-action={t.action}>
                <th scope="row">{t.name}</th>
                <td>{t.batch === null ? '—' : t.batch + 1}</td>
                <td className="muted">—</td>
                <td>
                  <Badge status={t.action} />
                </td>
                <td className="muted">—</td>
                <td>{t.why}</td>
              </tr>
            ) : (
              t.components.map((c, i) => (
                <tr
                  key={`${t.targetId}-${c.name}`}
                  data-testid="plan-row"
                  data-target={t.name}
                  data-component={c.name}
                  data-action={c.action}
                >
                  {i === 0 ? (
                    <th scope="row" rowSpan={t.components.length}>
                      {t.name}
                      {t.drift ? (
                        <>
                          {' '}
                          <Badge status="drift" />
                        </>
                      ) : null}
                      <div className="small muted">{t.why}</div>
                    </th>
                  ) : null}
                  {i === 0 ? <td rowSpan={t.components.length}>{t.batch === null ? '—' : t.batch + 1}</td> : null}
                  <td>{c.name}</td>
                  <td>
                    <Badge status={c.action} />
                  </td>
                  <td>
                    <code title={`${c.fromDigest ?? 'nothing'} → ${c.toDigest ?? 'nothing'}`}>
                      {short(c.fromDigest)} → {short(c.toDigest)}
                    </code>
                  </td>
                  <td>{c.why}</td>
                </tr>
              ))
            ),
          )}
        </tbody>
      </table>
      <p className="small muted">
        Plan <code data-testid="plan-hash">{plan.hash}</code> — an approval is for this plan; if it changes before the deployment starts,
        approvals given for it no longer count.
      </p>
      {changes?.length ? (
        <div className="alert warn" data-testid="plan-changes">
          <strong>The plan changed:</strong>
          <ul className="plain">
            {changes.map((c) => (
              <li key={`${c.at}-${c.to}`}>
                <When at={c.at} /> — {localizeTimes(c.changes.join('; '))}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}
