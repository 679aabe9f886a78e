// What changed between two releases, per component: added, removed, or changed tag/semver/digest.
import type { Release, ReleaseDiff } from './model.js';

const FIELDS = ['tag', 'semver', 'digest'] as const;

export function diffReleases(from: Release, to: Release): ReleaseDiff {
  const a = new Map(from.components.map((c) => [c.componentId, c]));
  const b = new Map(to.components.map((c) => [c.componentId, c]));
  const ids = [...new Set([...a.keys(), ...b.keys()])];
  const view = (c: Release['components'][number] | undefined) => (c ? { tag: c.tag, semver: c.semver, digest: c.digest } : null);
  const components = ids.map((id) => {
    const x = a.get(id);
    const y = b.get(id);
    const fields = x && y ? FIELDS.filter((f) => x[f] !== y[f]) : [];
    const change = !x ? 'added' : !y ? 'removed' : fields.length > 0 ? 'changed' : 'unchanged';
    return { componentId: id, component: (y ?? x)!.component, change, fields, from: view(x), to: view(y) } as const;
  });
  components.sort((p, q) => p.component.localeCompare(q.component));
  const head = (r: Release) => ({ id: r.id, name: r.name, status: r.status });
  return { from: head(from), to: head(to), components };
}
