// A target's timeline: what ran there from when to when (release, digests, deployment, promotion) with
// its drift periods between, newest first, and "what ran here at…": the answer for one instant with who
// decided it and the evidence packets, verified by the server against the chain.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { TargetAt, TargetTimeline } from '../api/types';
import { Link } from '../lib/router';
import { Digest, When } from './format';
import { Badge, ErrorBox } from './ui';

type Row =
  | { kind: 'ran'; from: string; to: string | null; x: TargetTimeline['intervals'][number] }
  | { kind: 'drift'; from: string; to: string | null; d: TargetTimeline['drift'][number] };

export function TimelineTable({ timeline }: { timeline: TargetTimeline }) {
  const rows: Row[] = [
    ...timeline.intervals.map((x): Row => ({ kind: 'ran', from: x.from, to: x.to, x })),
    ...timeline.drift.map((d): Row => ({ kind: 'drift', from: d.from, to: d.to, d })),
  ].sort((a, b) => b.from.localeCompare(a.from));
  if (rows.length === 0) return <p className="muted">Nothing ran here yet.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="target-timeline">
        <caption className="sr-only">What ran on {timeline.target.name} from when to when, and its drift periods</caption>
        <thead>
          <tr>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">What ran</th>
            <th scope="col">Decided by</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) =>
            r.kind === 'ran' ? (
              <tr key={`ran-${r.x.taskId}`} data-testid="timeline-ran">
                <td className="small">
                  <When at={r.from} />
                </td>
                <td className="small">{r.to ? <When at={r.to} /> : 'now'}</td>
                <td>
                  {r.x.action === 'remove' ? (
                    <span className="muted">nothing: Gantry removed what it had deployed</span>
                  ) : (
                    <>
                      <Link to={`/releases/${r.x.release.name}`}>{r.x.release.name}</Link>{' '}
                      {r.x.rollbackOf ? <Badge status="rolled_back" label="rollback" /> : null}
                      {r.x.components.map((c) => (
                        <div key={c.name} className="small">
                          {c.name} <Digest value={c.digest} />
                        </div>
                      ))}
                    </>
                  )}
                </td>
                <td className="small">
                  <Link to={`/deployments/${r.x.jobId}`}>deployment</Link>
                  {r.x.promotionId ? (
                    <>
                      {' · '}
                      <Link to={`/promotions/${r.x.promotionId}`}>promotion</Link>
                    </>
                  ) : null}
                </td>
              </tr>
            ) : (
              <tr key={`drift-${r.from}`} data-testid="timeline-drift">
                <td className="small">
                  <When at={r.from} />
                </td>
                <td className="small">{r.to ? <When at={r.to} /> : 'now'}</td>
                <td colSpan={2}>
                  <Badge status="drift" />{' '}
                  {r.d.items
                    .map((i) => `${i.component ?? 'target'} ${i.field}: ${i.actual ?? '—'} (recorded ${i.expected ?? '—'})`)
                    .join('; ')}
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}

export function WhatRanAt({ target }: { target: string }) {
  const [when, setWhen] = useState('');
  const [answer, setAnswer] = useState<TargetAt>();
  const [error, setError] = useState<unknown>();
  const ask = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const time = new Date(when).toISOString();
      setAnswer(await unwrap(api.GET('/api/v1/targets/{ref}/at', { params: { path: { ref: target }, query: { time } } })));
    } catch (err) {
      setError(err);
    }
  };
  const a = answer;
  return (
    <section className="panel" aria-labelledby="at-title">
      <h3 id="at-title" style={{ marginTop: 0 }}>
        What ran here at…
      </h3>
      <form onSubmit={ask} className="row" style={{ alignItems: 'flex-end' }}>
        <div>
          <label htmlFor="at-time">Time (your local time)</label>
          <input id="at-time" type="datetime-local" step={1} value={when} onChange={(e) => setWhen(e.target.value)} required />
        </div>
        <button type="submit">Ask</button>
      </form>
      <ErrorBox error={error} title="Could not answer" />
      {a ? (
        <dl className="kv" data-testid="at-answer">
          <dt>At</dt>
          <dd>
            <When at={a.at} />
          </dd>
          <dt>Ran</dt>
          <dd data-testid="at-ran">
            {a.ran && a.ran.action === 'deploy' ? (
              <>
                {a.ran.release.name}{' '}
                {a.ran.components.map((c) => (
                  <div key={c.name} className="small">
                    {c.name} <Digest value={c.digest} />
                  </div>
                ))}
              </>
            ) : (
              <span className="muted">{a.why}</span>
            )}
          </dd>
          {a.drift ? (
            <>
              <dt>Drift</dt>
              <dd>
                <Badge status="drift" /> {a.drift.items.map((i) => `${i.component ?? 'target'} ${i.field}: ${i.actual ?? '—'}`).join('; ')}
              </dd>
            </>
          ) : null}
          {a.job ? (
            <>
              <dt>Deployment</dt>
              <dd>
                <Link to={`/deployments/${a.job.id}`}>{a.job.rollbackOf ? 'rollback' : 'deployment'}</Link> by {a.job.createdBy ?? '—'}
              </dd>
            </>
          ) : null}
          {a.promotion ? (
            <>
              <dt>Promotion</dt>
              <dd data-testid="at-promotion">
                <Link to={`/promotions/${a.promotion.id}`}>requested by {a.promotion.requestedBy}</Link>; approved by{' '}
                {a.promotion.approvals
                  .filter((x) => x.counted)
                  .map((x) => x.username)
                  .join(', ') || '—'}
                ; gates: {a.promotion.gates.map((g) => `${g.gate} ${g.status}`).join(', ')}
              </dd>
            </>
          ) : null}
          {a.evidence.length ? (
            <>
              <dt>Evidence</dt>
              <dd data-testid="at-evidence">
                {a.evidence.map((e) => (
                  <div key={e.id}>
                    <Link to={`/evidence?packet=${e.id}`}>
                      {e.type.replaceAll('_', ' ')} #{e.sequence}
                    </Link>
                  </div>
                ))}
                {a.verification ? (
                  a.verification.ok ? (
                    <Badge status="verified" label="verified against the chain" />
                  ) : (
                    <span className="alert bad">{a.verification.failures.join('; ')}</span>
                  )
                ) : null}
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}
    </section>
  );
}
