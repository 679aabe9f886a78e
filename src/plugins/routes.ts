// HTTP routes for plugins (global: platform admins install, enable and disable) and plugin instances
// (per tenant: tenant admins configure and enable a plugin for their tenant).
import { z } from 'zod';
import { caller } from '../http/caller.js';
import { apiRoute, resourceRoutes, tenantRoute } from '../http/resource.js';
import { ADMIN, type App, type Deps, PLATFORM, READ } from '../http/types.js';
import { withSystem } from '../store/db.js';
import { MAX_ARCHIVE_BYTES } from './archive.js';
import type { PluginHost } from './host.js';
import * as m from './model.js';
import * as svc from './service.js';

export function pluginRoutes(app: App, { db }: Deps, host: PluginHost): void {
  const tags = ['plugins'];
  const list = z.object({ items: z.array(m.plugin), nextCursor: z.null() });

  apiRoute(
    app,
    {
      method: 'GET',
      url: '/api/v1/plugins',
      access: READ,
      tags,
      summary: 'List installed plugins with their status',
      response: { 200: list },
    },
    async () => ({ items: (await withSystem(db, svc.listPlugins)).map(svc.pluginOut), nextCursor: null }),
  );

  apiRoute(
    app,
    {
      method: 'GET',
      url: '/api/v1/plugins/:id',
      access: READ,
      tags,
      summary: 'Get a plugin by id or UUID',
      params: m.pluginRef,
      response: { 200: m.plugin },
    },
    async (req) => svc.pluginOut(await withSystem(db, (tx) => svc.findPlugin(tx, req.params.id))),
  );

  app.post(
    '/api/v1/plugins',
    {
      config: { access: PLATFORM },
      // base64 of the largest accepted archive, plus the JSON around it
      bodyLimit: Math.ceil((MAX_ARCHIVE_BYTES * 4) / 3) + 4096,
      schema: {
        tags,
        summary: 'Install (or upgrade) a plugin from an uploaded package',
        description:
          'The package is a .tgz with gantry-plugin.json at its root (or under package/, as npm pack makes it), sent base64-encoded. ' +
          'It is stored in the database so every replica loads the same code. Platform admins only.',
        body: m.pluginInstall,
        response: { 201: m.plugin },
      },
    },
    async (req, reply) => {
      const a = caller(req);
      const bytes = Buffer.from(req.body.archive, 'base64');
      const { row, previousStatus } = await withSystem(db, (tx) => svc.installPlugin(tx, bytes, a.username));
      // An upgrade of an active plugin stays active on the new code (or fails with the reason).
      const out = req.body.enable || previousStatus === 'active' ? await host.activate(row.plugin_id) : row;
      if (out === row) {
        await host.stop(row.plugin_id);
        await host.refresh();
      }
      req.log.info({ plugin: row.plugin_id, version: row.version, status: out.status }, 'plugin installed');
      return reply.status(201).send(svc.pluginOut(out));
    },
  );

  // Platform admins switch a plugin on and off everywhere; each answers the plugin as it is afterwards.
  const platform = { method: 'POST', access: PLATFORM, tags, params: m.pluginRef, response: { 200: m.plugin } } as const;
  apiRoute(
    app,
    {
      ...platform,
      url: '/api/v1/plugins/:id/enable',
      summary: 'Activate a plugin: start it and check it implements its manifest',
      description: 'The answer is the plugin with status active, or failed and the reason. Platform admins only.',
    },
    async (req) => {
      const row = await withSystem(db, (tx) => svc.findPlugin(tx, req.params.id));
      return svc.pluginOut(await host.activate(row.plugin_id));
    },
  );
  apiRoute(
    app,
    { ...platform, url: '/api/v1/plugins/:id/disable', summary: 'Disable a plugin everywhere (its gates then fail with that reason)' },
    async (req, a) => {
      const row = await withSystem(db, (tx) => svc.findPlugin(tx, req.params.id));
      return svc.pluginOut(await host.deactivate(row.plugin_id, `disabled by ${a.username}`));
    },
  );

  const itags = ['plugins'];
  const instanceRef = z.strictObject({ pluginId: z.string().min(1).max(128).describe('Plugin id or UUID.') });

  tenantRoute(
    app,
    db,
    {
      method: 'GET',
      url: '/api/v1/plugin-instances',
      access: READ,
      tags: itags,
      summary: 'This tenant’s plugin instances',
      response: { 200: z.object({ items: z.array(m.pluginInstance), nextCursor: z.null() }) },
    },
    async (tx) => ({ items: await svc.listInstances(tx), nextCursor: null }),
  );

  resourceRoutes(app, db, {
    path: '/api/v1/plugin-instances',
    tags: itags,
    access: { read: READ, write: ADMIN },
    item: m.pluginInstance,
    ref: instanceRef,
    get: { summary: 'This tenant’s instance of a plugin', run: (tx, { pluginId }) => svc.getInstance(tx, pluginId) },
    create: {
      summary: 'Set a plugin up for this tenant',
      description: 'The config is validated against the plugin manifest’s configSchema. One instance per plugin and tenant.',
      body: m.instanceUpsert,
      run: (tx, body, a) => svc.createInstance(tx, a.tenantId, body),
    },
    update: {
      summary: 'Change this tenant’s plugin config or enable/disable it',
      body: m.instanceUpdate,
      run: (tx, { pluginId }, body) => svc.updateInstance(tx, pluginId, body),
    },
    remove: { summary: 'Remove this tenant’s instance of a plugin', run: (tx, { pluginId }) => svc.deleteInstance(tx, pluginId) },
  });
}
