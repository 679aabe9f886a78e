// Promote a release to an environment: pick the release, preview its gates (a dry run), give a reason.
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { Environment, PromotionPreview, Release } from '../api/types';
import { navigate } from '../lib/router';
import { GateList } from './Gates';
import { ErrorBox, Loading } from './ui';

export function PromoteDialog({
  target,
  release,
  releases,
  onClose,
}: {
  target: Environment;
  release: Release | undefined;
  releases: Release[];
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const promotable = releases.filter((r) => r.status === 'ready' || r.status === 'deployed');
  const [releaseId, setReleaseId] = useState(release?.id ?? promotable[0]?.id ?? '');
  const [reason, setReason] = useState('');
  const [preview, setPreview] = useState<PromotionPreview>();
  const [previewError, setPreviewError] = useState<unknown>();
  const [submitError, setSubmitError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    ref.current?.showModal();
  }, []);

  useEffect(() => {
    if (!releaseId) return;
    let live = true;
    setPreview(undefined);
    setPreviewError(undefined);
    unwrap(api.POST('/api/v1/promotions/preview', { body: { releaseId, targetEnvironmentId: target.id } }))
      .then((p) => live && setPreview(p))
      .catch((err) => live && setPreviewError(err));
    return () => {
      live = false;
    };
  }, [releaseId, target.id]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setSubmitError(undefined);
    try {
      const p = await unwrap(api.POST('/api/v1/promotions', { body: { releaseId, targetEnvironmentId: target.id, reason } }));
      ref.current?.close();
      navigate(`/promotions/${p.id}`);
    } catch (err) {
      setSubmitError(err);
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
        <label htmlFor="promote-release">Release</label>
        {promotable.length === 0 ? (
          <p className="muted">No ready release. Create one and make it ready first.</p>
        ) : (
          <select id="promote-release" value={releaseId} onChange={(e) => setReleaseId(e.target.value)}>
            {promotable.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name} ({r.status})
              </option>
            ))}
          </select>
        )}
        <h3>Gate preview</h3>
        <ErrorBox error={previewError} title="Preview failed" />
        {releaseId && !preview && !previewError ? <Loading what="Evaluating gates" /> : null}
        {preview ? (
          <>
            <p className={`alert ${preview.wouldPass ? 'ok' : 'warn'}`} role="status">
              {preview.wouldPass
                ? 'No gate fails: the promotion goes ahead once any approvals are given.'
                : 'Some gates do not pass yet; the promotion will wait (pending) or be refused as shown.'}
            </p>
            <GateList gates={preview.gates} caption="Gate preview" />
          </>
        ) : null}
        <label htmlFor="promote-reason">Reason</label>
        <textarea id="promote-reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="Why this release, why now" />
        <ErrorBox error={submitError} title="Promotion refused" />
        <div className="row" style={{ justifyContent: 'flex-end', marginTop: '0.75rem' }}>
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !releaseId}>
            {busy ? 'Requesting…' : 'Request promotion'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
