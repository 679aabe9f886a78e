// A workflow run: its DAG with each step's status and attempts; the selected step's attempts and logs.
import { useMemo, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { StepRun } from '../api/types';
import { Dag, type DagNode } from '../components/Dag';
import { FullId } from '../components/format';
import { ActionButton, Badge, ErrorBox, Loading, ScrollPre, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

export function WorkflowRunDetail({ id }: { id: string }) {
  const { hasRole } = useSession();
  const [done, setDone] = useState(false);
  const state = useApi(
    async () => {
      const run = await unwrap(api.GET('/api/v1/workflow-runs/{id}', { params: { path: { id } } }));
      setDone(FINISHED.has(run.status));
      return run;
    },
    [id],
    { pollMs: done ? 0 : 2000 },
  );
  const run = state.data;
  useTitle(run?.releaseName ? `Workflow run: ${run.releaseName} → ${run.environmentName}` : 'Workflow run');
  const template = useApi(
    () =>
      unwrap(
        api.GET('/api/v1/workflow-templates/{ref}', {
          params: { path: { ref: run?.templateId ?? '' }, query: { version: run?.templateVersion ?? 1 } },
        }),
      ),
    [run?.templateId, run?.templateVersion],
    { enabled: Boolean(run) },
  );
  const [selected, setSelected] = useState<string>();

  const byNode = useMemo(() => {
    const m = new Map<string, StepRun[]>();
    for (const s of run?.steps ?? []) {
      const list = m.get(s.nodeId) ?? [];
      list.push(s);
      m.set(s.nodeId, list);
    }
    for (const list of m.values()) list.sort((a, b) => a.attemptNumber - b.attemptNumber);
    return m;
  }, [run]);

  const nodes: DagNode[] = useMemo(
    () =>
      (template.data?.nodes ?? []).map((n) => {
        const attempts = byNode.get(n.id) ?? [];
        return { id: n.id, type: n.type, status: attempts.at(-1)?.status, attempts: attempts.length };
      }),
    [template.data, byNode],
  );

  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  if (!run) return <Loading />;
  const attempts = selected ? (byNode.get(selected) ?? []) : [];
  return (
    <>
      <p className="small">
        <Link to="/workflow-runs">Workflow runs</Link> /
      </p>
      <div className="spread">
        <h1>
          {run.templateName} v{run.templateVersion} <Badge status={run.status} />
        </h1>
        {!FINISHED.has(run.status) && hasRole('release_manager') ? (
          <ActionButton
            className="danger"
            onAction={async () => {
              await unwrap(api.POST('/api/v1/workflow-runs/{id}/cancel', { params: { path: { id } } }));
              await state.reload();
            }}
          >
            Cancel run
          </ActionButton>
        ) : null}
      </div>
      <div className="panel">
        <dl className="kv">
          <dt>Run</dt>
          <dd>
            <FullId id={run.id} />
          </dd>
          {run.promotionId ? (
            <>
              <dt>Promotion</dt>
              <dd>
                <Link to={`/promotions/${run.promotionId}`}>
                  {run.releaseName} → {run.environmentName}
                </Link>
              </dd>
            </>
          ) : null}
          <dt>Started</dt>
          <dd>
            <Time at={run.startedAt} />
          </dd>
          <dt>Completed</dt>
          <dd>
            <Time at={run.completedAt} />
          </dd>
          {run.error ? (
            <>
              <dt>Error</dt>
              <dd className="alert bad">{run.error}</dd>
            </>
          ) : null}
        </dl>
        <details>
          <summary>Inputs and outputs</summary>
          <ScrollPre label="Inputs and outputs">{JSON.stringify({ inputs: run.inputs, outputs: run.outputs }, null, 2)}</ScrollPre>
        </details>
      </div>
      <h2>Steps</h2>
      <ErrorBox error={template.error} onRetry={template.reload} title="Could not load the template" />
      {template.data ? (
        <Dag nodes={nodes} edges={template.data.edges} selected={selected} onSelect={setSelected} />
      ) : (
        <Loading what="Loading the DAG" />
      )}
      <p className="hint">Select a step (click, or Tab then Enter) to see its attempts and logs.</p>
      {selected ? (
        <section aria-labelledby="step-title" className="panel">
          <h2 id="step-title" style={{ marginTop: 0 }}>
            Step <code>{selected}</code>
          </h2>
          {attempts.length === 0 ? <p className="muted">Not started.</p> : null}
          {attempts.map((a) => (
            <div key={a.id} data-testid={`attempt-${a.attemptNumber}`}>
              <h3>
                Attempt {a.attemptNumber} <Badge status={a.status} />{' '}
                <span className="small muted">
                  <Time at={a.startedAt} /> → <Time at={a.completedAt} />
                </span>
              </h3>
              {a.error ? <div className="alert bad">{a.error}</div> : null}
              <ScrollPre className="logs" role="log" label={`Logs of attempt ${a.attemptNumber}`}>
                {a.logs || '(no logs)'}
              </ScrollPre>
            </div>
          ))}
        </section>
      ) : null}
    </>
  );
}
