// Tags are checked when a release is written, not first when it is made ready: a tag must be in the
// component's version map or, when the component has a registry, in the registry. A tag that exists
// nowhere is refused (422) with the component and the place that was asked named, so a draft never
// carries a version it made up. Registry traffic happens outside any transaction.
import { getComponent } from '../components/service.js';
import { componentWithRegistry } from '../components/sync.js';
import { readTag } from '../components/versioning.js';
import { currentOfTag } from '../components/versions.js';
import { GantryError, NotFoundError, type ProblemField } from '../core/errors.js';
import { denyingOutbound, type Outbound } from '../http/outbound.js';
import { type RegistryClient, repositoryName } from '../registry/client.js';
import { type RegistryIntegration, registryClientFor } from '../registry/connect.js';
import { RegistryNotFoundError } from '../registry/errors.js';
import { type Db, withTenant } from '../store/db.js';
import type { ReleaseCreate } from './model.js';

interface Check {
  path: string;
  tag: string;
  component: string;
  repository: string;
  integration: RegistryIntegration | undefined;
}

/** Throws 422 tag_not_found naming every tag selection that is neither synced nor in the registry. */
export async function checkTags(
  db: Db,
  tenantId: string,
  components: ReleaseCreate['components'] | undefined,
  at: string,
  outbound: Outbound = denyingOutbound(),
): Promise<void> {
  if (!components?.some((s) => s.tag && !s.digest)) return;
  const checks = await withTenant(db, tenantId, async (tx) => {
    const out: Check[] = [];
    for (const [i, s] of components.entries()) {
      if (!s.tag || s.digest) continue;
      // An unknown component or a tag that is no version at all is reported by the release's own validation.
      const c = await getComponent(tx, s.component).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      if (!c || !readTag(c.versioningStrategy, c.defaultChannel, s.tag).ok) continue; // reported with the strategy's reason
      if (await currentOfTag(tx, c.id, s.tag)) continue;
      const integration = c.registryIntegrationId ? (await componentWithRegistry(tx, c.id)).integration : undefined;
      out.push({ path: `${at}.${i}.tag`, tag: s.tag, component: c.name, repository: c.imageRepository, integration });
    }
    return out;
  });
  const problems: ProblemField[] = [];
  const clients = new Map<string, RegistryClient>();
  for (const c of checks) {
    if (!c.integration) {
      problems.push({
        path: c.path,
        message: `tag "${c.tag}" of ${c.component} is not among its synced versions and the component has no registry to ask; sync it or pick a listed version`,
      });
      continue;
    }
    const client = clients.get(c.integration.id) ?? (await registryClientFor(c.integration, { db, tenantId }, outbound));
    clients.set(c.integration.id, client);
    const name = repositoryName(c.repository, String(c.integration.config.url));
    try {
      await client.resolve(name, c.tag);
    } catch (err) {
      if (!(err instanceof RegistryNotFoundError)) throw err;
      problems.push({ path: c.path, message: `tag "${c.tag}" of ${c.component} does not exist in the registry (${name})` });
    }
  }
  if (problems.length > 0) {
    throw new GantryError('tag_not_found', 422, `Unknown tag: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}.`, problems);
  }
}
