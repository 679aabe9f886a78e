// Registry failures as typed errors: the operator's configuration (credentials, names) is a 4xx; the
// registry itself failing or not answering is a 502/504, never a 500.
import { GantryError, UpstreamError } from '../core/errors.js';

/** The registry refused the configured credentials (or demanded some and none are configured). */
export class RegistryAuthError extends GantryError {
  constructor(message: string) {
    super('registry_auth_failed', 422, message);
  }
}

/** The repository, tag or digest does not exist in the registry. */
export class RegistryNotFoundError extends GantryError {
  constructor(message: string) {
    super('registry_not_found', 422, message);
  }
}

export function registryUnreachable(registry: string, why: string): UpstreamError {
  return new UpstreamError(
    `Registry ${registry} is unreachable (${why}); check the integration's url and that the registry runs.`,
    'registry_unreachable',
  );
}

export function registryTimeout(registry: string, ms: number): UpstreamError {
  return new UpstreamError(`Registry ${registry} did not answer within ${ms} ms.`, 'registry_timeout', 504);
}

export function registryFailed(registry: string, what: string): UpstreamError {
  return new UpstreamError(`Registry ${registry} failed: ${what}.`, 'registry_error');
}
