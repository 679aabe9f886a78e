// Version maps: schemas, listing (current, or with history), and "latest in a channel" for releases.
import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import type { Component } from './model.js';
import { compareNewestFirst, readTag } from './versioning.js';

export const versionMap = z.object({
  id: z.uuid(),
  componentId: z.uuid(),
  tag: z.string(),
  digest: z.string(),
  semver: z.string().nullable(),
  channel: z.string().nullable(),
  current: z.boolean().describe('false for history: the tag pointed at this digest until supersededAt.'),
  supersededAt: z.string().nullable(),
  createdAt: z.string(),
});
export type VersionMap = z.infer<typeof versionMap>;

export const versionsQuery = z.strictObject({
  history: z
    .enum(['true', 'false'])
    .optional()
    .describe('true adds superseded mappings (a tag that moved, or was removed), newest first after the current ones.'),
  channel: z.string().max(32).optional().describe('Only versions of this channel.'),
  tag: z.string().max(128).optional().describe('Only this tag (with history=true: every digest it had).'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(500).optional(),
});

export interface VersionRow {
  id: string;
  component_id: string;
  tag: string;
  digest: string;
  semver: string | null;
  channel: string | null;
  superseded_at: Date | null;
  created_at: Date;
}

export const versionOut = (r: VersionRow): VersionMap => ({
  id: r.id,
  componentId: r.component_id,
  tag: r.tag,
  digest: r.digest,
  semver: r.semver,
  channel: r.channel,
  current: r.superseded_at === null,
  supersededAt: r.superseded_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
});

/** Current mappings newest version first (by the strategy's order, then by time), then history newest first. */
export function sortVersions(c: Component, rows: VersionRow[]): VersionRow[] {
  const byTime = (a: VersionRow, b: VersionRow) => b.created_at.getTime() - a.created_at.getTime() || b.id.localeCompare(a.id);
  const current = rows.filter((r) => r.superseded_at === null);
  const history = rows.filter((r) => r.superseded_at !== null);
  current.sort((a, b) => {
    const ra = readTag(c.versioningStrategy, c.defaultChannel, a.tag);
    const rb = readTag(c.versioningStrategy, c.defaultChannel, b.tag);
    const byVersion = ra.ok && rb.ok ? compareNewestFirst(c.versioningStrategy, ra, rb) : 0;
    return byVersion || byTime(a, b);
  });
  history.sort((a, b) => b.superseded_at!.getTime() - a.superseded_at!.getTime() || byTime(a, b));
  return [...current, ...history];
}

export async function listVersions(tx: Tx, c: Component, q: z.infer<typeof versionsQuery>) {
  const r = await tx.query<VersionRow>(
    `SELECT * FROM version_maps WHERE component_id = $1 AND ($2 OR superseded_at IS NULL)
        AND ($3::text IS NULL OR channel = $3) AND ($4::text IS NULL OR tag = $4)`,
    [c.id, q.history === 'true', q.channel ?? null, q.tag ?? null],
  );
  // Version order is the strategy's (semver precedence), which SQL cannot sort; the cursor is an offset.
  const sorted = sortVersions(c, r.rows);
  const offset = q.cursor ? Number(decodeCursor(q.cursor, 1)[0]) : 0;
  const page = sorted.slice(offset, offset + q.limit);
  const more = offset + q.limit < sorted.length;
  return { items: page.map(versionOut), nextCursor: more ? encodeCursor([offset + q.limit]) : null };
}

/** The newest current version of a channel, or undefined when the channel is empty. */
export async function latestInChannel(tx: Tx, c: Component, channel: string): Promise<VersionRow | undefined> {
  const r = await tx.query<VersionRow>('SELECT * FROM version_maps WHERE component_id = $1 AND superseded_at IS NULL AND channel = $2', [
    c.id,
    channel,
  ]);
  return sortVersions(c, r.rows)[0];
}

/** The current mapping of a tag, if the last sync saw it. */
export async function currentOfTag(tx: Tx, componentId: string, tag: string): Promise<VersionRow | undefined> {
  const r = await tx.query<VersionRow>('SELECT * FROM version_maps WHERE component_id = $1 AND tag = $2 AND superseded_at IS NULL', [
    componentId,
    tag,
  ]);
  return r.rows[0];
}
