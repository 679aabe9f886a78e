// Building a self-contained export bundle: the packets, every public key, and the chain facts an
// offline verifier needs to check continuity of a whole range or of a filtered subset.
import { ValidationError } from '../core/errors.js';
import { canonicalOrder } from '../protocol/evidence-format.js';
import type { Tx } from '../store/db.js';
import { BUNDLE_FORMAT, type EvidenceBundle, type EvidenceFilter } from './model.js';
import { allPackets, chainHead, chainLinks, listKeys, resolveFilter } from './queries.js';
import { toPacket } from './service.js';

/** Large enough for years of a busy tenant's promotions; beyond it, export in --since slices. */
export const MAX_EXPORT_PACKETS = 50_000;

export async function exportBundle(tx: Tx, tenantId: string, filter: EvidenceFilter, now: Date): Promise<EvidenceBundle> {
  const f = await resolveFilter(tx, filter);
  const rows = await allPackets(tx, tenantId, f, MAX_EXPORT_PACKETS);
  if (rows.length > MAX_EXPORT_PACKETS) {
    throw new ValidationError(`More than ${MAX_EXPORT_PACKETS} packets match; narrow the export with since.`, [
      { path: 'querystring.since', message: 'too many packets' },
    ]);
  }
  const tenant = await tx.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [tenantId]);
  const head = await chainHead(tx, tenantId);
  const first = rows[0];
  const last = rows[rows.length - 1];
  // Only a promotion/environment/type filter makes a subset: `since` alone still yields a contiguous tail.
  const subset = f.promotionId !== null || f.environmentId !== null || f.type !== null;
  const links = subset && first && last ? await chainLinks(tx, tenantId, first.seq, last.seq) : [];
  const echo: Record<string, string> = {};
  for (const [k, v] of Object.entries(filter)) if (typeof v === 'string') echo[k] = v;
  return {
    format: BUNDLE_FORMAT,
    exportedAt: now.toISOString(),
    tenant: { id: tenantId, name: tenant.rows[0]?.name ?? '' },
    filter: echo,
    packets: rows.map((r) => ({ ...toPacket(r), content: canonicalOrder(r.content) as Record<string, unknown> })),
    // Every key ever registered: few, and a verifier then needs nothing else.
    keys: await bundleKeys(tx),
    chain: {
      scope: subset ? 'subset' : 'chain',
      fromSequence: first?.seq ?? null,
      toSequence: last?.seq ?? null,
      anchorHash: first?.previous_hash ?? null,
      headSequence: head?.sequence ?? null,
      headHash: head?.contentHash ?? null,
      links,
    },
  };
}

/** Every registered public key, as a bundle lists them. */
export async function bundleKeys(tx: Tx): Promise<EvidenceBundle['keys']> {
  return (await listKeys(tx)).map((k) => ({
    keyid: k.keyId,
    publicKeyPem: k.publicKeyPem,
    createdAt: k.createdAt,
    retiredAt: k.retiredAt,
  }));
}
