// HTTP routes for platform administration: who the platform admins are, granting and revoking it. Only a
// platform admin with a platform token reaches them (access PLATFORM); tenant roles never do.
import { z } from 'zod';
import { nameSchema } from '../core/ids.js';
import { apiRoute } from '../http/resource.js';
import { type App, type Deps, PLATFORM } from '../http/types.js';
import { withSystem } from '../store/db.js';
import * as p from './platform.js';

export function platformRoutes(app: App, { db }: Deps): void {
  const tags = ['platform'];

  apiRoute(
    app,
    {
      method: 'GET',
      url: '/api/v1/platform/admins',
      access: PLATFORM,
      tags,
      summary: 'List platform admins',
      response: { 200: z.object({ items: z.array(p.platformAdmin), nextCursor: z.null() }) },
    },
    async () => ({ items: await withSystem(db, p.listPlatformAdmins), nextCursor: null }),
  );

  apiRoute(
    app,
    {
      method: 'POST',
      url: '/api/v1/platform/admins',
      access: PLATFORM,
      tags,
      summary: 'Make a user a platform admin; returns a platform token for them once',
      description:
        'Their existing tokens stay tenant-only; the returned token (in their home tenant) is the one with platform powers. ' +
        '409 `already_platform_admin` if they are one.',
      body: p.platformGrant,
      response: { 201: p.platformGranted },
      status: 201,
    },
    async (req, a) => {
      const r = await withSystem(db, (tx) => p.grantPlatformAdmin(tx, req.body.username, { tokenName: req.body.tokenName }));
      req.log.warn({ granted: req.body.username, by: a.username }, 'platform admin granted');
      return r;
    },
  );

  apiRoute(
    app,
    {
      method: 'DELETE',
      url: '/api/v1/platform/admins/:username',
      access: PLATFORM,
      tags,
      summary: 'Revoke platform admin from a user (their tokens lose platform powers)',
      description: '409 `last_platform_admin` when it is the last one; 409 `not_platform_admin` when the user is not one.',
      params: z.strictObject({ username: nameSchema }),
      response: { 200: p.platformAdmin },
    },
    async (req, a) => {
      const r = await withSystem(db, (tx) => p.revokePlatformAdmin(tx, req.params.username));
      req.log.warn({ revoked: req.params.username, by: a.username }, 'platform admin revoked');
      return r;
    },
  );
}
