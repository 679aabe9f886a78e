// Tenant secrets: request/response schemas. A secret's value goes in and never comes out.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';

export const MAX_SECRET_BYTES = 64 * 1024;

export const secretName = z.strictObject({ name: nameSchema.describe('The secret name; referenced as secret:<name>.') });

export const secretWrite = z.strictObject({
  value: z
    .string()
    .min(1, 'must not be empty')
    .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`)
    .describe('The secret value. Stored encrypted; never returned by any route.'),
});

export const secretMeta = z.object({
  name: z.string(),
  version: z.number().int().describe('1 on creation, +1 on every write.'),
  createdAt: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string().nullable().describe('Username of the last writer (null if that user is gone).'),
});
export type SecretMeta = z.infer<typeof secretMeta>;
