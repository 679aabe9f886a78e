// Evidence: packets by promotion or environment; a packet viewer (content, hash, signature, chain link)
// that verifies in the browser; export bundles, and verify a bundle (downloaded or picked from disk).
import { type FormEvent, useState } from 'react';
import { api, download, unwrap } from '../api/client';
import type { EvidenceBundle, EvidencePacket, SigningKey } from '../api/types';
import { FullId } from '../components/format';
import { EnvironmentFilter } from '../components/ListFilters';
import { Badge, Digest, ErrorBox, Loading, ScrollPre, Time } from '../components/ui';
import { Link, navigate, useLocation, useTitle } from '../lib/router';
import { allPages, useApi } from '../lib/useApi';
import { type BundleVerdict, type PacketVerdict, verifyBundle, verifyPacket } from '../lib/verify';

function filterQuery(promotion: string, environment: string): string {
  const q = new URLSearchParams();
  if (promotion) q.set('promotion', promotion);
  if (environment) q.set('environment', environment);
  return q.toString();
}

/** "1.4.0 → prod": the release and environment a packet is about, read from its (signed) content. */
export function subjectOf(p: EvidencePacket): string | undefined {
  const c = p.content as { release?: { name?: unknown }; environment?: { name?: unknown } };
  const release = typeof c.release?.name === 'string' ? c.release.name : undefined;
  const env = typeof c.environment?.name === 'string' ? c.environment.name : undefined;
  if (!release && !env) return undefined;
  return `${release ?? '?'} → ${env ?? '?'}`;
}

function Verdict({ verdict }: { verdict: PacketVerdict }) {
  return (
    <div className={`alert ${verdict.ok ? 'ok' : 'bad'}`} role="status" data-testid="packet-verdict">
      <strong>{verdict.ok ? 'Verified' : 'Verification failed'}</strong>
      <ul style={{ margin: '0.25rem 0 0' }}>
        {verdict.checks.map((c) => (
          <li key={c.name}>
            {c.ok ? '✓' : '✗'} {c.name}: {c.detail}
          </li>
        ))}
      </ul>
    </div>
  );
}

function PacketViewer({ packet, all, keys }: { packet: EvidencePacket; all: EvidencePacket[]; keys: SigningKey[] }) {
  const [verdict, setVerdict] = useState<PacketVerdict>();
  const [error, setError] = useState<unknown>();
  const previous = all.find((p) => p.sequence === packet.sequence - 1);
  const next = all.find((p) => p.sequence === packet.sequence + 1);
  const verify = async () => {
    setError(undefined);
    try {
      // The previous packet may be outside this filter; fetch the chain link when it is.
      let prev: { contentHash: string } | null | undefined = packet.sequence === 1 ? null : previous;
      if (prev === undefined && packet.previousHash) {
        const page = await unwrap(api.GET('/api/v1/evidence', { params: { query: { limit: 500 } } }));
        prev = page.items.find((p) => p.sequence === packet.sequence - 1);
      }
      setVerdict(await verifyPacket(packet, keys, prev));
    } catch (err) {
      setError(err);
    }
  };
  let envelope: unknown = packet.signature;
  try {
    envelope = JSON.parse(packet.signature);
  } catch {
    // shown as text
  }
  return (
    <section className="panel" aria-labelledby="packet-title" data-testid="packet-viewer">
      <div className="spread">
        <h2 id="packet-title" style={{ marginTop: 0 }}>
          #{packet.sequence} {packet.packetType.replaceAll('_', ' ')}
        </h2>
        <button type="button" className="primary" onClick={verify}>
          Verify in the browser
        </button>
      </div>
      {verdict ? <Verdict verdict={verdict} /> : null}
      <ErrorBox error={error} title="Could not verify" />
      <dl className="kv">
        <dt>Created</dt>
        <dd>
          <Time at={packet.createdAt} />
        </dd>
        <dt>Promotion</dt>
        <dd>
          {packet.promotionId ? (
            <>
              <Link to={`/promotions/${packet.promotionId}`}>{subjectOf(packet) ?? 'promotion'}</Link> <FullId id={packet.promotionId} />
            </>
          ) : (
            '—'
          )}
        </dd>
        <dt>Content hash</dt>
        <dd>
          <Digest value={packet.contentHash} />
        </dd>
        <dt>Signed by</dt>
        <dd>
          <code className="full-id">{packet.signerKeyRef}</code>
        </dd>
        <dt>Chain link</dt>
        <dd>
          {packet.previousHash ? (
            <>
              previous <Digest value={packet.previousHash} />{' '}
              {previous ? (
                <Link
                  to={`?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(window.location.search)), packet: previous.id })}`}
                >
                  #{previous.sequence}
                </Link>
              ) : (
                <span className="muted">(#{packet.sequence - 1}, outside this filter)</span>
              )}
            </>
          ) : (
            'first packet of the chain'
          )}
          {next ? (
            <>
              {' '}
              · next{' '}
              <Link to={`?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(window.location.search)), packet: next.id })}`}>
                #{next.sequence}
              </Link>
            </>
          ) : null}
        </dd>
      </dl>
      <h3>Content</h3>
      <ScrollPre label="Packet content" data-testid="packet-content">
        {JSON.stringify(packet.content, null, 2)}
      </ScrollPre>
      <details>
        <summary>Signature (DSSE envelope)</summary>
        <ScrollPre label="DSSE envelope">{JSON.stringify(envelope, null, 2)}</ScrollPre>
      </details>
    </section>
  );
}

function BundleVerdictView({ verdict }: { verdict: BundleVerdict }) {
  return (
    <div className={`alert ${verdict.ok ? 'ok' : 'bad'}`} role="status" data-testid="bundle-verdict">
      <strong>{verdict.ok ? `Bundle verified: ${verdict.packets.length} packet(s)` : 'Bundle verification failed'}</strong>
      <ul style={{ margin: '0.25rem 0 0' }}>
        <li>
          {verdict.chain.ok ? '✓' : '✗'} {verdict.chain.name}: {verdict.chain.detail}
        </li>
        {verdict.packets
          .filter((p) => !p.verdict.ok)
          .map((p) => (
            <li key={p.id}>
              ✗ #{p.sequence}:{' '}
              {p.verdict.checks
                .filter((c) => !c.ok)
                .map((c) => `${c.name}: ${c.detail}`)
                .join('; ')}
            </li>
          ))}
      </ul>
    </div>
  );
}

export function Evidence() {
  useTitle('Evidence');
  const { query } = useLocation();
  const promotion = query.get('promotion') ?? '';
  const environment = query.get('environment') ?? '';
  const selectedId = query.get('packet') ?? '';
  const filter = { ...(promotion ? { promotion } : {}), ...(environment ? { environment } : {}) };
  const state = useApi(async () => {
    const [packets, keys] = await Promise.all([
      allPages((cursor) =>
        unwrap(api.GET('/api/v1/evidence', { params: { query: { limit: 500, ...filter, ...(cursor ? { cursor } : {}) } } })),
      ),
      unwrap(api.GET('/api/v1/evidence/keys')),
    ]);
    return { packets, keys: keys.items };
  }, [promotion, environment]);
  const [bundleVerdict, setBundleVerdict] = useState<BundleVerdict>();
  const [bundleError, setBundleError] = useState<unknown>();
  const [promoInput, setPromoInput] = useState(promotion);

  const exportUrl = `/api/v1/evidence/export?${filterQuery(promotion, environment)}`;
  const verifyExport = async (bundle?: EvidenceBundle) => {
    setBundleError(undefined);
    setBundleVerdict(undefined);
    try {
      setBundleVerdict(await verifyBundle(bundle ?? (await unwrap(api.GET('/api/v1/evidence/export', { params: { query: filter } })))));
    } catch (err) {
      setBundleError(err);
    }
  };
  const setFilter = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/evidence?${filterQuery(promoInput.trim(), environment)}`);
  };

  const packets = state.data?.packets ?? [];
  const selected = packets.find((p) => p.id === selectedId);
  return (
    <>
      <h1>Evidence</h1>
      <form className="row panel" onSubmit={setFilter} style={{ alignItems: 'flex-end' }}>
        <div>
          <label htmlFor="ev-promotion">Promotion id</label>
          <input id="ev-promotion" value={promoInput} onChange={(e) => setPromoInput(e.target.value)} placeholder="any" size={36} />
        </div>
        <EnvironmentFilter
          id="ev-env"
          className=""
          value={environment}
          onChange={(env) => navigate(`/evidence?${filterQuery(promotion, env)}`)}
        />
        <button type="submit">Filter</button>
        <button
          type="button"
          onClick={() =>
            download(
              exportUrl,
              `gantry-evidence${promotion ? `-${promotion.slice(0, 8)}` : ''}${environment ? `-${environment}` : ''}.json`,
            )
          }
        >
          Download bundle
        </button>
        <button type="button" className="primary" onClick={() => verifyExport()}>
          Verify bundle
        </button>
        <div>
          <label htmlFor="ev-file">Verify a bundle file</label>
          <input
            id="ev-file"
            type="file"
            accept="application/json,.json"
            onChange={async (e) => {
              const f = e.target.files?.[0];
              if (f) await verifyExport(JSON.parse(await f.text()) as EvidenceBundle).catch(setBundleError);
            }}
          />
        </div>
      </form>
      {bundleVerdict ? <BundleVerdictView verdict={bundleVerdict} /> : null}
      <ErrorBox error={bundleError} title="Bundle verification failed" />
      <ErrorBox error={state.error} onRetry={state.reload} />
      {!state.data && !state.error ? <Loading /> : null}
      {state.data ? (
        <div className="grid2">
          <div className="table-wrap" style={{ alignSelf: 'start' }}>
            <table>
              <caption className="sr-only">Evidence packets</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Type</th>
                  <th scope="col">Release → environment</th>
                  <th scope="col">Hash</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {[...packets].reverse().map((p) => (
                  <tr key={p.id} aria-selected={p.id === selectedId}>
                    <td data-label="#">{p.sequence}</td>
                    <td data-label="Type">
                      <Link to={`/evidence?${new URLSearchParams({ ...Object.fromEntries(query), packet: p.id })}`}>
                        <Badge status={p.packetType === 'gate_override' ? 'warn' : 'info'} label={p.packetType.replaceAll('_', ' ')} />
                      </Link>
                    </td>
                    <td data-label="Release → environment">{subjectOf(p) ?? <span className="muted">—</span>}</td>
                    <td data-label="Hash">
                      <Digest value={p.contentHash} />
                    </td>
                    <td data-label="Created">
                      <Time at={p.createdAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {packets.length === 0 ? (
              <p className="muted" style={{ padding: '0.5rem' }}>
                No packets for this filter.
              </p>
            ) : null}
          </div>
          {selected ? (
            <PacketViewer key={selected.id} packet={selected} all={packets} keys={state.data.keys} />
          ) : (
            <p className="muted">Select a packet to see its content, hash, signature and chain link.</p>
          )}
        </div>
      ) : null}
    </>
  );
}
