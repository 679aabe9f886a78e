// Configuration applies: what `gantry apply` records after changing the server (schemas for the API).
import { z } from 'zod';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');

const change = z.strictObject({
  action: z.enum(['create', 'change', 'delete']),
  kind: z.string().min(1).max(50),
  name: z.string().min(1).max(100),
  fields: z.array(z.string().max(500)).max(500).describe('The spec fields a change touched (dotted paths).'),
});

export const configApplyCreate = z.strictObject({
  sha256: sha256.describe('The files: one file’s sha256, or the sha256 of the sha256sum-style listing of several.'),
  files: z
    .array(z.strictObject({ path: z.string().min(1).max(1000), sha256 }))
    .min(1)
    .max(1000),
  created: z.number().int().min(0),
  changed: z.number().int().min(0),
  deleted: z.number().int().min(0),
  changes: z.array(change).max(10_000),
});
export type ConfigApplyCreate = z.infer<typeof configApplyCreate>;

export const configApply = configApplyCreate.extend({
  id: z.uuid(),
  appliedBy: z.object({ id: z.uuid(), username: z.string() }).nullable(),
  createdAt: z.string(),
});

export const configApplyRef = z.strictObject({ id: z.uuid() });
