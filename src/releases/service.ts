// Releases: create and edit drafts (selections checked against components and their strategies), read,
// list and deprecate. Making a release ready lives in ready.ts; the database refuses edits after that too.
import { getComponent } from '../components/service.js';
import { readTag } from '../components/versioning.js';
import { currentOfTag, latestInChannel } from '../components/versions.js';
import { ConflictError, GantryError, NotFoundError, type ProblemField } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { Release, ReleaseComponent, ReleaseCreate, ReleaseUpdate } from './model.js';

interface ReleaseRow {
  id: string;
  name: string;
  display_name: string;
  status: Release['status'];
  components: ReleaseComponent[];
  source_ref: Release['sourceRef'];
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

const releaseOut = (r: ReleaseRow): Release => ({
  id: r.id,
  name: r.name,
  displayName: r.display_name,
  status: r.status,
  components: r.components,
  sourceRef: r.source_ref,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Finds a release by id or name; `lock` takes a row lock for a state change. */
export async function getRelease(tx: Tx, ref: string, lock = false): Promise<Release> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<ReleaseRow>(`SELECT * FROM releases WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}${lock ? ' FOR UPDATE' : ''}`, [
    ref,
  ]);
  if (!r.rows[0]) throw new NotFoundError('Release', ref);
  return releaseOut(r.rows[0]);
}

export async function listReleases(tx: Tx, q: { status?: string | undefined; limit: number; cursor?: string | undefined }) {
  // Newest first: UUIDv7 ids follow creation order.
  const r = await tx.query<ReleaseRow>(
    `SELECT * FROM releases WHERE ($1::uuid IS NULL OR id < $1::uuid) AND ($2::text IS NULL OR status = $2)
      ORDER BY id DESC LIMIT $3`,
    [afterOf(q.cursor) ?? null, q.status ?? null, q.limit + 1],
  );
  return toPage(r.rows, q.limit, (row) => [row.id], releaseOut);
}

/** Turns selections into stored components, with what the version map says today as a preview. 422 names each bad one. */
async function selections(tx: Tx, input: ReleaseCreate['components'], at: string): Promise<ReleaseComponent[]> {
  const out: ReleaseComponent[] = [];
  const problems: ProblemField[] = [];
  const seen = new Set<string>();
  for (const [i, s] of input.entries()) {
    const path = `${at}.${i}`;
    const c = await getComponent(tx, s.component).catch((err: unknown) => {
      if (err instanceof NotFoundError)
        problems.push({ path: `${path}.component`, message: `no component "${s.component}" in this tenant` });
      else throw err;
    });
    if (!c) continue;
    if (seen.has(c.id)) {
      problems.push({ path: `${path}.component`, message: `component "${c.name}" is listed twice` });
      continue;
    }
    seen.add(c.id);
    const base = { componentId: c.id, component: c.name, imageRepository: c.imageRepository };
    if (s.digest) {
      const known = await tx.query<{ tag: string; semver: string | null; channel: string | null }>(
        'SELECT tag, semver, channel FROM version_maps WHERE component_id = $1 AND digest = $2 AND superseded_at IS NULL ORDER BY id DESC LIMIT 1',
        [c.id, s.digest],
      );
      const k = known.rows[0];
      out.push({
        ...base,
        selector: { by: 'digest', value: s.digest },
        tag: k?.tag ?? null,
        semver: k?.semver ?? null,
        channel: k?.channel ?? null,
        digest: s.digest,
      });
    } else if (s.tag) {
      const reading = readTag(c.versioningStrategy, c.defaultChannel, s.tag);
      if (!reading.ok) {
        problems.push({
          path: `${path}.tag`,
          message: `tag "${s.tag}" is not a version of ${c.name} under its ${c.versioningStrategy.type} strategy: ${reading.reason}`,
        });
        continue;
      }
      const known = await currentOfTag(tx, c.id, s.tag);
      out.push({
        ...base,
        selector: { by: 'tag', value: s.tag },
        tag: s.tag,
        semver: reading.semver,
        channel: reading.channel,
        digest: known?.digest ?? null,
      });
    } else {
      const channel = s.channel ?? c.defaultChannel;
      const latest = await latestInChannel(tx, c, channel);
      out.push({
        ...base,
        selector: { by: 'channel', value: channel },
        tag: latest?.tag ?? null,
        semver: latest?.semver ?? null,
        channel,
        digest: latest?.digest ?? null,
      });
    }
  }
  if (problems.length > 0) {
    throw new GantryError(
      'reference_invalid',
      422,
      `Invalid component selection: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}.`,
      problems,
    );
  }
  return out;
}

export async function createRelease(tx: Tx, tenantId: string, userId: string, input: ReleaseCreate): Promise<Release> {
  const components = await selections(tx, input.components, 'body.components');
  const r = await tx.query<ReleaseRow>(
    `INSERT INTO releases (tenant_id, name, display_name, components, source_ref, created_by)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [
      tenantId,
      input.name,
      input.displayName ?? '',
      JSON.stringify(components),
      input.sourceRef ? JSON.stringify(input.sourceRef) : null,
      userId,
    ],
  );
  return releaseOut(r.rows[0]!);
}

export function immutable(r: Release): ConflictError {
  return new ConflictError(
    `Release "${r.name}" is ${r.status}: a release is immutable once ready. Create a new release (gantry release create) for other components.`,
    'release_immutable',
  );
}

export async function updateRelease(tx: Tx, ref: string, input: ReleaseUpdate): Promise<Release> {
  const current = await getRelease(tx, ref, true);
  if (current.status !== 'draft') throw immutable(current);
  const components = input.components ? await selections(tx, input.components, 'body.components') : current.components;
  const sourceRef = input.sourceRef === undefined ? current.sourceRef : input.sourceRef;
  const r = await tx.query<ReleaseRow>(
    'UPDATE releases SET name = $2, display_name = $3, components = $4, source_ref = $5 WHERE id = $1 RETURNING *',
    [
      current.id,
      input.name ?? current.name,
      input.displayName ?? current.displayName,
      JSON.stringify(components),
      sourceRef ? JSON.stringify(sourceRef) : null,
    ],
  );
  return releaseOut(r.rows[0]!);
}

/** Deletes a draft; a ready release is evidence of what was shipped and stays. */
export async function deleteDraft(tx: Tx, ref: string): Promise<void> {
  const current = await getRelease(tx, ref, true);
  if (current.status !== 'draft') throw immutable(current);
  const used = await tx.query<{ id: string }>('SELECT id FROM promotions WHERE release_id = $1 LIMIT 1', [current.id]);
  if (used.rows[0]) {
    throw new ConflictError(
      `Release "${current.name}" is named by promotion ${used.rows[0].id}, so it stays; edit it instead.`,
      'release_in_use',
    );
  }
  await tx.query('DELETE FROM releases WHERE id = $1', [current.id]);
}

/** ready/deployed → deprecated; deprecating a deprecated release is a no-op, so scripts may retry. */
export async function deprecateRelease(tx: Tx, ref: string): Promise<Release> {
  const current = await getRelease(tx, ref, true);
  if (current.status === 'deprecated') return current;
  if (current.status === 'draft') {
    throw new ConflictError(
      `Release "${current.name}" is a draft; only ready or deployed releases can be deprecated.`,
      'release_not_ready',
    );
  }
  const r = await tx.query<ReleaseRow>(`UPDATE releases SET status = 'deprecated' WHERE id = $1 RETURNING *`, [current.id]);
  return releaseOut(r.rows[0]!);
}

/** Stores the pinned components and moves the draft to ready, if nobody changed it meanwhile. */
export async function markReady(tx: Tx, id: string, expectedUpdatedAt: string, pinned: ReleaseComponent[]): Promise<Release> {
  const current = await getRelease(tx, id, true);
  if (current.status !== 'draft') throw new ConflictError(`Release "${current.name}" is already ${current.status}.`, 'release_not_draft');
  if (current.updatedAt !== expectedUpdatedAt) {
    throw new ConflictError(
      `Release "${current.name}" was edited while its digests were being resolved; make it ready again.`,
      'release_changed',
    );
  }
  const r = await tx.query<ReleaseRow>(`UPDATE releases SET status = 'ready', components = $2 WHERE id = $1 RETURNING *`, [
    id,
    JSON.stringify(pinned),
  ]);
  return releaseOut(r.rows[0]!);
}
