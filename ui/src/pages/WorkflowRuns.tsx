// Workflow runs: newest first, filterable by status.
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { FullId } from '../components/format';
import { StatusFilter } from '../components/ListFilters';
import { Badge, ErrorBox, Loading, Time } from '../components/ui';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;

export function WorkflowRuns() {
  useTitle('Workflow runs');
  const [status, setStatus] = useState<(typeof STATUSES)[number] | ''>('');
  const state = useApi(
    () => unwrap(api.GET('/api/v1/workflow-runs', { params: { query: { limit: 100, ...(status ? { status } : {}) } } })),
    [status],
    { pollMs: 5000 },
  );
  return (
    <>
      <h1>Workflow runs</h1>
      <StatusFilter id="run-status" statuses={STATUSES} value={status} onChange={setStatus} />
      <ErrorBox error={state.error} onRetry={state.reload} />
      {!state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap cards">
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Release → environment</th>
                <th scope="col">Template</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Completed</th>
              </tr>
            </thead>
            <tbody>
              {state.data.items.map((r) => (
                <tr key={r.id}>
                  <td data-label="Run">
                    <Link to={`/workflow-runs/${r.id}`}>{r.releaseName ? 'Promotion run' : `${r.templateName} run`}</Link>{' '}
                    <FullId id={r.id} />
                  </td>
                  <td data-label="Release → environment">
                    {r.releaseName ? (
                      <Link to={`/promotions/${r.promotionId}`}>
                        {r.releaseName} → {r.environmentName}
                      </Link>
                    ) : (
                      <span className="muted">— (not a promotion)</span>
                    )}
                  </td>
                  <td data-label="Template">
                    {r.templateName} v{r.templateVersion}
                  </td>
                  <td data-label="Status">
                    <Badge status={r.status} />
                  </td>
                  <td data-label="Started">
                    <Time at={r.startedAt ?? r.createdAt} />
                  </td>
                  <td data-label="Completed">
                    <Time at={r.completedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.items.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No runs.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}
