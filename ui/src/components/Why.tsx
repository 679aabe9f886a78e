// Why a promotion waits or was refused, and until when (GET /promotions/{id}/why): the server's answer
// in one paragraph, who may still approve and who may not (and why), and the earliest time it could
// proceed if the approvals came now.
import type { PromotionWhy } from '../api/types';
import { When } from './format';

export function WhyPanel({ why }: { why: PromotionWhy }) {
  if (why.verdict === 'passes') return null;
  const a = why.approvals;
  return (
    <section className="panel" aria-labelledby="why-title" data-testid="why">
      <h2 id="why-title" style={{ marginTop: 0 }}>
        {why.verdict === 'refused' ? 'Why it was refused' : 'Why it waits, and until when'}
      </h2>
      <p data-testid="why-summary">{why.summary}</p>
      <dl className="kv">
        <dt>Approvals</dt>
        <dd>
          {a.counted.length} of {a.required}
          {a.counted.length ? ` (${a.counted.join(', ')})` : ''}
          {a.needed ? ` — ${a.needed} more needed` : ''}
        </dd>
        <dt>May approve</dt>
        <dd data-testid="why-eligible">
          {a.eligible.length ? a.eligible.map((e) => (e.note ? `${e.username} (${e.note})` : e.username)).join(', ') : 'nobody'}
        </dd>
        {a.excluded.length ? (
          <>
            <dt>May not approve</dt>
            <dd data-testid="why-excluded">{a.excluded.map((e) => `${e.username}: ${e.why}`).join('; ')}</dd>
          </>
        ) : null}
        {why.opensAt ? (
          <>
            <dt>Time gates open</dt>
            <dd>
              {why.opensAtLocal} (<When at={why.opensAt} />)
            </dd>
          </>
        ) : null}
        <dt>Earliest it could proceed</dt>
        <dd data-testid="why-earliest">
          {why.earliestProceedAt ? (
            <>
              {why.earliestProceedAtLocal} (<When at={why.earliestProceedAt} />)
            </>
          ) : (
            <span className="muted">not while a gate fails or waits on something without a time</span>
          )}
        </dd>
      </dl>
    </section>
  );
}
