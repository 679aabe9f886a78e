// Tenants, users, role bindings and API tokens: schemas that validate requests and describe responses.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';
import { ROLES } from '../http/types.js';

export const idParam = z.strictObject({ id: z.uuid({ message: 'must be a UUID' }) });
export const roleSchema = z.enum(ROLES);

export const tenant = z.object({
  id: z.uuid(),
  name: z.string(),
  displayName: z.string(),
  createdAt: z.string(),
});
export const tenantCreate = z.strictObject({
  name: nameSchema,
  displayName: z.string().max(200).optional(),
  admin: z
    .strictObject({ username: nameSchema, displayName: z.string().max(200).optional() })
    .describe('The first admin of the new tenant; a token for them is returned once.'),
});
export const tenantCreated = z.object({ tenant, adminToken: z.string() });

export const user = z.object({
  id: z.uuid(),
  username: z.string(),
  displayName: z.string(),
  email: z.string().nullable(),
  roles: z.array(roleSchema),
  managedHere: z
    .boolean()
    .describe(
      "This tenant's admins manage the user's identity (name, email, tokens); false for members managed by another tenant or the platform.",
    ),
  createdAt: z.string(),
});
export const userCreate = z.strictObject({
  username: nameSchema,
  displayName: z.string().max(200).optional(),
  email: z.email().max(320).optional(),
  roles: z.array(roleSchema).min(1).max(5),
});
export const userUpdate = z.strictObject({
  displayName: z.string().max(200).optional(),
  email: z.email().max(320).nullable().optional(),
  roles: z.array(roleSchema).min(1).max(5).optional(),
});

export const token = z.object({
  id: z.uuid(),
  name: z.string(),
  userId: z.uuid(),
  username: z.string(),
  prefix: z.string(),
  platform: z.boolean().describe('The token carries platform powers (its user is a platform admin and minted it as a platform token).'),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});
export const tokenCreate = z.strictObject({
  name: z.string().min(1).max(100),
  userId: z
    .uuid()
    .optional()
    .describe('Admins may create a token for a member whose identity this tenant manages (managedHere); default: yourself.'),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
  platform: z
    .boolean()
    .optional()
    .describe('A platform token (platform powers): only a platform admin, for themselves, using a platform token. Default false.'),
});
export const tokenCreated = z.object({ token, secret: z.string().describe('Shown once; only its hash is stored.') });

export const whoami = z.object({
  tenant: z.object({ id: z.uuid(), name: z.string() }),
  user: z.object({ id: z.uuid(), username: z.string() }),
  roles: z.array(roleSchema),
  isPlatformAdmin: z.boolean(),
});
