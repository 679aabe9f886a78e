// Deployment jobs: newest first, filterable by environment and status.
import { useState } from 'react';
import type { DeploymentStatus } from '../api/types';
import { FullId } from '../components/format';
import { EnvironmentFilter, StatusFilter } from '../components/ListFilters';
import { Badge, ErrorBox, Loading, Time } from '../components/ui';
import { listDeployments } from '../lib/deployments';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const STATUSES: DeploymentStatus[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

export function Deployments() {
  useTitle('Deployments');
  const [env, setEnv] = useState('');
  const [status, setStatus] = useState<DeploymentStatus | ''>('');
  const state = useApi(() => listDeployments({ ...(env ? { environment: env } : {}), ...(status ? { status } : {}) }), [env, status], {
    pollMs: 5000,
  });
  return (
    <>
      <h1>Deployments</h1>
      <div className="row">
        <EnvironmentFilter id="d-env" value={env} onChange={setEnv} />
        <StatusFilter id="d-status" statuses={STATUSES} value={status} onChange={setStatus} />
      </div>
      <ErrorBox error={state.error} onRetry={state.reload} />
      {state.loading && !state.data ? <Loading /> : null}
      {state.data ? (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Release → environment</th>
                <th scope="col">Strategy</th>
                <th scope="col">Status</th>
                <th scope="col">Tasks</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {state.data.map((j) => (
                <tr key={j.id}>
                  <td data-label="Job">
                    <Link to={`/deployments/${j.id}`}>
                      {j.rollbackOf ? 'Rollback' : 'Deployment'} of {j.releaseName} → {j.environmentName}
                    </Link>{' '}
                    {j.rollbackOf ? <Badge status="rolled_back" label="rollback" /> : null}
                    <div>
                      <FullId id={j.id} />
                    </div>
                  </td>
                  <td data-label="Release → environment">
                    {j.releaseName} → {j.environmentName}
                  </td>
                  <td data-label="Strategy">
                    {j.strategy.replaceAll('_', ' ')}
                    {j.batchCount > 1 ? (
                      <span className="small muted">
                        {' '}
                        · batch {Math.min(j.currentBatch + 1, j.batchCount)}/{j.batchCount}
                      </span>
                    ) : null}
                  </td>
                  <td data-label="Status">
                    <Badge status={j.status} />
                    {j.pausedReason ? <Badge status="waiting" label={`paused: ${j.pausedReason}`} /> : null}
                    {j.waitingReason ? <div className="small muted">waiting: {j.waitingReason}</div> : null}
                  </td>
                  <td className="small" data-label="Tasks">
                    {Object.entries(j.counts)
                      .map(([k, v]) => `${v} ${k}`)
                      .join(', ')}
                  </td>
                  <td data-label="Started">
                    <Time at={j.startedAt ?? j.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {state.data.length === 0 ? (
            <p className="muted" style={{ padding: '0.5rem' }}>
              No deployments.
            </p>
          ) : null}
        </div>
      ) : null}
    </>
  );
}
