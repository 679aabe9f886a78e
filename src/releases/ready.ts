// Making a release ready: resolve every component against its registry (tag → digest, channel → its
// latest tag → digest, digest → verified), then pin all of them in one transaction. If one cannot be
// resolved nothing is pinned, and the error names every component that failed.
import type { Component } from '../components/model.js';
import { getComponent } from '../components/service.js';
import { componentWithRegistry } from '../components/sync.js';
import { readTag } from '../components/versioning.js';
import { currentOfTag, latestInChannel } from '../components/versions.js';
import { ConflictError, GantryError, type ProblemField } from '../core/errors.js';
import { type RegistryClient, repositoryName } from '../registry/client.js';
import { type RegistryIntegration, registryClientFor } from '../registry/connect.js';
import { RegistryNotFoundError } from '../registry/errors.js';
import { type Db, withTenant } from '../store/db.js';
import type { Release, ReleaseComponent } from './model.js';
import { getRelease, markReady } from './service.js';

interface Plan {
  entry: ReleaseComponent;
  component: Component;
  integration: RegistryIntegration | undefined;
  /** For channel selections: the newest tag of the channel in the version map. */
  channelTag: string | undefined;
}

/** Resolution failures that are the release's content (a tag or digest the registry lacks), not the registry's health. */
class Unresolvable extends Error {}

async function resolveOne(p: Plan, client: RegistryClient | undefined, db: Db, tenantId: string): Promise<ReleaseComponent> {
  const { entry, component: c } = p;
  const s = entry.selector;
  const tag = s.by === 'tag' ? s.value : s.by === 'channel' ? p.channelTag : undefined;
  if (s.by === 'channel' && !tag) {
    throw new Unresolvable(
      `channel "${s.value}" of ${c.name} has no versions; sync the component (gantry component sync ${c.name}) or pick a tag`,
    );
  }
  const name = p.integration ? repositoryName(c.imageRepository, String(p.integration.config.url)) : c.imageRepository;
  const describe = (t: string | undefined) => {
    if (!t) return { tag: entry.tag, semver: entry.semver, channel: entry.channel };
    const r = readTag(c.versioningStrategy, c.defaultChannel, t);
    return { tag: t, semver: r.ok ? r.semver : null, channel: r.ok ? r.channel : null };
  };
  if (client) {
    try {
      const resolved = await client.resolve(name, tag ?? s.value);
      return { ...entry, ...describe(tag), digest: resolved.digest };
    } catch (err) {
      if (err instanceof RegistryNotFoundError)
        throw new Unresolvable(`${tag ? `tag "${tag}"` : s.value} of ${name} is not in the registry`);
      throw err;
    }
  }
  // No registry integration: the version map (filled by hand or earlier syncs) is the only source.
  if (s.by === 'digest') return { ...entry, digest: s.value };
  const known = await withTenant(db, tenantId, (tx) => currentOfTag(tx, c.id, tag!));
  if (!known) throw new Unresolvable(`tag "${tag}" of ${c.name} is not in its version map and the component has no registry`);
  return { ...entry, ...describe(tag), digest: known.digest };
}

export async function makeReady(db: Db, tenantId: string, ref: string): Promise<Release> {
  const { release, plans } = await withTenant(db, tenantId, async (tx) => {
    const release = await getRelease(tx, ref);
    if (release.status !== 'draft') throw new ConflictError(`Release "${release.name}" is already ${release.status}.`, 'release_not_draft');
    const plans: Plan[] = [];
    for (const entry of release.components) {
      const r = await componentWithRegistry(tx, entry.componentId).catch((err: unknown) => {
        if (err instanceof GantryError && err.code === 'no_registry') return undefined;
        if (err instanceof GantryError && err.code === 'not_found') {
          throw new ConflictError(
            `Component "${entry.component}" of release "${release.name}" was deleted; edit the release.`,
            'reference_invalid',
          );
        }
        throw err;
      });
      const component = r?.component ?? (await getComponent(tx, entry.componentId));
      const channelTag = entry.selector.by === 'channel' ? (await latestInChannel(tx, component, entry.selector.value))?.tag : undefined;
      plans.push({ entry, component, integration: r?.integration, channelTag });
    }
    return { release, plans };
  });

  // Registry traffic outside any transaction; one client per integration so tokens are reused.
  const clients = new Map<string, RegistryClient>();
  const problems: ProblemField[] = [];
  const pinned: ReleaseComponent[] = [];
  for (const [i, p] of plans.entries()) {
    let client: RegistryClient | undefined;
    if (p.integration) {
      client = clients.get(p.integration.id) ?? (await registryClientFor(p.integration, { db, tenantId }));
      clients.set(p.integration.id, client);
    }
    try {
      pinned.push(await resolveOne(p, client, db, tenantId));
    } catch (err) {
      if (err instanceof Unresolvable) {
        problems.push({ path: `components.${i}`, message: `${p.component.name}: ${err.message}` });
        continue;
      }
      // Registry down or credentials refused: same status and code, with the component named.
      if (err instanceof GantryError)
        throw new GantryError(err.code, err.status, `Component ${p.component.name}: ${err.message} Nothing was pinned.`);
      throw err;
    }
  }
  if (problems.length > 0) {
    throw new GantryError(
      'release_unresolvable',
      422,
      `Release "${release.name}" cannot be made ready; nothing was pinned. ${problems.map((p) => p.message).join('; ')}.`,
      problems,
    );
  }
  return withTenant(db, tenantId, (tx) => markReady(tx, release.id, release.updatedAt, pinned));
}
