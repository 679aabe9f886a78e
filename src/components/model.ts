// Components: request/response schemas, including the OCI repository and versioning-strategy rules.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';

// The repository-name grammar of distribution/reference (what `docker pull` accepts), without tag or digest.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const REPOSITORY_RE = new RegExp(`^(?:${HOST}(?::[0-9]{1,5})?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

export const imageRepository = z
  .string()
  .min(1)
  .max(255)
  .superRefine((s, ctx) => {
    if (REPOSITORY_RE.test(s)) return;
    const lastSegment = s.slice(s.lastIndexOf('/') + 1);
    const message = s.includes('@')
      ? 'must not include a digest; Gantry resolves and pins digests itself'
      : lastSegment.includes(':')
        ? 'must not include a tag; give the repository only, e.g. "registry.example.com:5000/demo/api"'
        : 'must be an OCI repository such as "registry.example.com:5000/demo/api" (lowercase path components)';
    ctx.addIssue({ code: 'custom', message });
  });

/** A JS regular expression given as a string; the compile error is reported to the caller. */
function regexSource(check?: (re: RegExp) => string | undefined) {
  return z
    .string()
    .min(1)
    .max(500)
    .superRefine((s, ctx) => {
      let re: RegExp;
      try {
        re = new RegExp(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
        return;
      }
      const problem = check?.(re);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

/** Capture groups of a compiled regex: an alternation with the empty string always matches, exposing them all. */
const captureGroups = (re: RegExp): number => new RegExp(`${re.source}|`).exec('')!.length - 1;

const channel = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, "_" or "-", starting with a letter, ≤ 32 characters');

/** Which channel a semantic version lands in; defaults: releases → the component's defaultChannel, prereleases → "beta". */
const channelMapping = z.strictObject({
  release: channel.optional().describe('Channel of versions without a prerelease part (default: defaultChannel).'),
  prerelease: channel.optional().describe('Channel of prereleases such as 1.1.0-beta.1 (default: "beta").'),
  byPrerelease: z
    .record(z.string().regex(/^[0-9A-Za-z-]{1,64}$/, 'must be a prerelease identifier such as "rc"'), channel)
    .optional()
    .describe('Channel per first prerelease identifier, e.g. {"rc": "candidate"}.'),
});

export const versioningStrategy = z.strictObject({
  type: z.enum(['semver', 'date', 'sequential', 'manual']),
  tagPattern: regexSource().optional().describe('Only tags matching this JS regular expression are versions.'),
  semverExtract: regexSource((re) =>
    captureGroups(re) === 1 ? undefined : `must have exactly one capture group (it has ${captureGroups(re)})`,
  )
    .optional()
    .describe('A JS regular expression whose one capture group is the version inside the tag.'),
  channels: channelMapping.optional(),
});

export const component = z.object({
  id: z.uuid(),
  name: z.string(),
  displayName: z.string(),
  imageRepository: z.string(),
  registryIntegrationId: z.uuid().nullable(),
  versioningStrategy: z.object({
    type: z.enum(['semver', 'date', 'sequential', 'manual']),
    tagPattern: z.string().optional(),
    semverExtract: z.string().optional(),
    channels: z
      .object({
        release: z.string().optional(),
        prerelease: z.string().optional(),
        byPrerelease: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
  }),
  defaultChannel: z.string(),
  lastSyncedAt: z.string().nullable().describe('When the version map was last synced from the registry.'),
  syncError: z.string().nullable().describe('Why the last sync failed; null after a successful one.'),
  nextSyncAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Component = z.infer<typeof component>;

export const componentCreate = z.strictObject({
  name: nameSchema,
  displayName: z.string().max(200).optional(),
  imageRepository,
  registryIntegrationId: z
    .uuid({ error: 'must be a UUID' })
    .nullable()
    .optional()
    .describe('An oci_registry integration of this tenant to read tags and digests through.'),
  versioningStrategy: versioningStrategy.optional().describe('Default: {"type":"semver"}.'),
  defaultChannel: channel.optional().describe('Default: "stable".'),
});
export type ComponentCreate = z.infer<typeof componentCreate>;

export const componentUpdate = componentCreate.partial();
export type ComponentUpdate = z.infer<typeof componentUpdate>;

export const componentRef = z.strictObject({
  ref: z.string().min(1).max(100).describe('Component id or name'),
});
