// The rule that keeps secrets out of plain config (integrations', plugins'): keys that look like they hold one.
const SECRET_KEY_RE = /pass(word)?|secret|token|api[-_]?key|private[-_]?key|credential/i;

/** Paths (e.g. ["auth", "password"]) of config keys that look like they hold a secret, at any depth. */
export function secretKeyPaths(value: unknown, at: string[] = []): string[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretKeyPaths(v, [...at, String(i)]));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => [...(SECRET_KEY_RE.test(k) ? [[...at, k]] : []), ...secretKeyPaths(v, [...at, k])]);
}
