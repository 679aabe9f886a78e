// Promotions: newest first, filterable by status and environment.
import { useState } from 'react';
import type { PromotionStatus } from '../api/types';
import { EnvironmentFilter, StatusFilter } from '../components/ListFilters';
import { Badge, ErrorBox, Loading, Time } from '../components/ui';
import { listPromotions } from '../lib/data';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const STATUSES: PromotionStatus[] = [
  'pending',
  'awaiting_approval',
  'approved',
  'deploying',
  'deployed',
  'rejected',
  'cancelled',
  'failed',
  'rolled_back',
];

export function Promotions() {
  useTitle('Promotions');
  const [status, setStatus] = useState<PromotionStatus | ''>('');
  const [env, setEnv] = useState('');
  const state = useApi(() => listPromotions({ ...(status ? { status } : {}), ...(env ? { environment: env } : {}) }), [status, env], {
    pollMs: 5000,
  });
  return (
    <>
      <h1>Promotions</h1>
      <div className="row">
        <StatusFilter id="p-status" statuses={STATUSES} value={status} onChange={setStatus} />
        <EnvironmentFilter id="p-env" value={env} onChange={setEnv} />
      </div>
      <ErrorBox error={state.error} onRetry={state.reload} />
      {state.loading && !state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Release</th>
                <th scope="col">From → to</th>
                <th scope="col">Status</th>
                <th scope="col">Blocked because</th>
                <th scope="col">Requested</th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/promotions/${p.id}`}>{p.releaseName}</Link>
                  </td>
                  <td>
                    {p.sourceEnvironmentName ?? '—'} → {p.targetEnvironmentName}
                  </td>
                  <td>
                    <Badge status={p.status} />
                  </td>
                  <td className="small">{p.blockedReason ?? ''}</td>
                  <td>
                    <Time at={p.requestedAt} /> <span className="small muted">by {p.requestedBy.username}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No promotions.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}
