// Promote a release to an environment: the server says which releases may go there now (next actions,
// with each one's gate preview for this user); the dialog offers those, and for any other shows why the
// API would refuse it, with the request button disabled. Give a reason and request.
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { Environment, NextAction } from '../api/types';
import { nextActions } from '../lib/data';
import { navigate } from '../lib/router';
import { useApi } from '../lib/useApi';
import { GateList } from './Gates';
import { Badge, ErrorBox, Loading } from './ui';

const STATE_LABEL: Record<NextAction['state'], string> = {
  available: 'can go',
  running: 'already running there',
  in_progress: 'being promoted there',
  blocked: 'refused by a gate',
};

export function PromoteDialog({
  target,
  releaseId,
  onClose,
}: {
  target: Environment;
  releaseId?: string | undefined;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const actions = useApi(() => nextActions(target.id), [target.id]);
  const [chosen, setChosen] = useState<string>();
  const [reason, setReason] = useState('');
  const [submitError, setSubmitError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    ref.current?.showModal();
  }, []);

  const items = actions.data?.items ?? [];
  // The asked-for release when it can go, else the newest that can; never one the API would refuse.
  const preferred = items.find((i) => i.release.id === releaseId && i.canRequest)?.release.id ?? actions.data?.recommendedReleaseId;
  const selectedId = chosen ?? preferred ?? releaseId ?? items[0]?.release.id ?? '';
  const item = items.find((i) => i.release.id === selectedId);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!item?.canRequest) return;
    setBusy(true);
    setSubmitError(undefined);
    try {
      const p = await unwrap(
        api.POST('/api/v1/promotions', { body: { releaseId: item.release.id, targetEnvironmentId: target.id, reason } }),
      );
      ref.current?.close();
      navigate(`/promotions/${p.id}`);
    } catch (err) {
      setSubmitError(err);
      void actions.reload();
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} onClose={onClose} aria-labelledby="promote-title">
      <form onSubmit={submit}>
        <h2 id="promote-title" style={{ marginTop: 0 }}>
          Promote to {target.displayName || target.name}
        </h2>
        <ErrorBox error={actions.error} title="Could not load what can be promoted" />
        {!actions.data && !actions.error ? <Loading what="Checking what can be promoted" /> : null}
        {actions.data && items.length === 0 ? <p className="muted">No ready release. Create one and make it ready first.</p> : null}
        {items.length ? (
          <>
            <label htmlFor="promote-release">Release</label>
            <select id="promote-release" value={selectedId} onChange={(e) => setChosen(e.target.value)}>
              {items.map((i) => (
                <option key={i.release.id} value={i.release.id}>
                  {i.release.name} ({STATE_LABEL[i.state]})
                </option>
              ))}
            </select>
          </>
        ) : null}
        {item ? (
          <>
            <h3>Gate preview</h3>
            {item.reason ? (
              <p className={`alert ${item.state === 'available' ? 'warn' : 'bad'}`} role="status" data-testid="promote-refusal">
                <Badge
                  status={item.state === 'available' ? 'pending' : 'fail'}
                  label={item.state === 'available' ? 'not for you' : STATE_LABEL[item.state]}
                />{' '}
                {item.reason}
                {item.activePromotion ? (
                  <>
                    {' '}
                    <a
                      href={`/promotions/${item.activePromotion.id}`}
                      onClick={(e) => {
                        e.preventDefault();
                        ref.current?.close();
                        navigate(`/promotions/${item.activePromotion?.id}`);
                      }}
                    >
                      Open that promotion
                    </a>
                  </>
                ) : null}
              </p>
            ) : (
              <p className="alert ok" role="status" data-testid="promote-verdict">
                {item.wouldPass
                  ? 'No gate fails: the promotion goes ahead once any approvals are given.'
                  : 'No gate refuses it; some wait (e.g. a freeze window) and are re-evaluated until they pass.'}
              </p>
            )}
            {item.gates.length ? <GateList gates={item.gates} caption="Gate preview" /> : null}
          </>
        ) : null}
        <label htmlFor="promote-reason">Reason</label>
        <textarea id="promote-reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="Why this release, why now" />
        <ErrorBox error={submitError} title="Promotion refused" />
        <div className="row" style={{ justifyContent: 'flex-end', marginTop: '0.75rem' }}>
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button
            type="submit"
            className="primary"
            disabled={busy || !item?.canRequest}
            title={item && !item.canRequest ? (item.reason ?? undefined) : undefined}
          >
            {busy ? 'Requesting…' : 'Request promotion'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
