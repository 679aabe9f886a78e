// Releases: request/response schemas. A release names, per component, how to choose its image (a tag,
// the latest of a channel, or a digest); making it ready pins every component to a digest.
import { z } from 'zod';
import { httpUrl } from '../core/urls.js';

const channel = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a channel name such as "stable" or "beta"');
const tag = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, 'must be an image tag such as "1.2.0"');
export const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be a digest "sha256:" + 64 lowercase hex digits');

export const componentSelection = z
  .strictObject({
    component: z.string().min(1).max(100).describe('Component name or id.'),
    tag: tag.optional().describe('This tag, resolved to its digest when the release is made ready.'),
    channel: channel.optional().describe('The latest version of this channel (e.g. "stable").'),
    digest: digest.optional().describe('Exactly this image digest.'),
  })
  .superRefine((s, ctx) => {
    const given = (['tag', 'channel', 'digest'] as const).filter((k) => s[k] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: 'custom', path: [given[1]!], message: `give one of tag, channel or digest, not ${given.join(' and ')}` });
    }
  })
  .describe("One component of a release; without tag, channel or digest: the latest of the component's default channel.");

export const sourceRef = z
  .strictObject({
    repository: z.string().min(1).max(500).optional().describe('Source repository, e.g. https://git.example.com/shop/api.'),
    commitSha: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, 'must be a hex commit id (7–64 lowercase hex digits)')
      .optional(),
    branch: z.string().min(1).max(255).optional(),
    ciRunUrl: httpUrl.optional().describe('The CI run that built the images.'),
  })
  .describe('Where the release was built from.');

const releaseName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, 'letters, digits, ".", "_", "+" or "-", starting with a letter or digit, ≤ 128 characters');

export const releaseStatus = z.enum(['draft', 'ready', 'deployed', 'deprecated']);

export const releaseComponent = z.object({
  componentId: z.uuid(),
  component: z.string().describe('Component name when the release was created.'),
  imageRepository: z.string(),
  selector: z.object({ by: z.enum(['tag', 'channel', 'digest']), value: z.string() }),
  tag: z.string().nullable(),
  semver: z.string().nullable(),
  channel: z.string().nullable(),
  digest: z.string().nullable().describe('Pinned once ready; in a draft, what the version map currently says (may be null).'),
});
export type ReleaseComponent = z.infer<typeof releaseComponent>;

export const release = z.object({
  id: z.uuid(),
  name: z.string(),
  displayName: z.string(),
  status: releaseStatus,
  components: z.array(releaseComponent),
  sourceRef: sourceRef.nullable(),
  createdBy: z.uuid().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Release = z.infer<typeof release>;

export const releaseCreate = z.strictObject({
  name: releaseName,
  displayName: z.string().max(200).optional(),
  components: z.array(componentSelection).min(1, 'a release needs at least one component').max(200),
  sourceRef: sourceRef.optional(),
});
export type ReleaseCreate = z.infer<typeof releaseCreate>;

export const releaseUpdate = z.strictObject({
  name: releaseName.optional(),
  displayName: z.string().max(200).optional(),
  components: releaseCreate.shape.components.optional().describe('Replaces every component selection.'),
  sourceRef: sourceRef.nullable().optional(),
});
export type ReleaseUpdate = z.infer<typeof releaseUpdate>;

export const releaseRef = z.strictObject({ ref: z.string().min(1).max(128).describe('Release id or name') });

export const releaseListQuery = z.strictObject({
  status: releaseStatus.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
});

const versionView = z.object({ tag: z.string().nullable(), semver: z.string().nullable(), digest: z.string().nullable() });

export const releaseDiff = z.object({
  from: z.object({ id: z.uuid(), name: z.string(), status: releaseStatus }),
  to: z.object({ id: z.uuid(), name: z.string(), status: releaseStatus }),
  components: z.array(
    z.object({
      componentId: z.uuid(),
      component: z.string(),
      change: z.enum(['added', 'removed', 'changed', 'unchanged']),
      fields: z.array(z.enum(['tag', 'semver', 'digest'])).describe('What differs, for "changed".'),
      from: versionView.nullable(),
      to: versionView.nullable(),
    }),
  ),
});
export type ReleaseDiff = z.infer<typeof releaseDiff>;
