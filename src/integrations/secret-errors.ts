// The errors of secret references: one that could not be read, and one the operator's policy does not allow.
import { GantryError } from '../core/errors.js';

/** A secret that could not be read; the integration is misconfigured, so 422 rather than 500. */
export class SecretUnavailableError extends GantryError {
  constructor(message: string) {
    super('credential_unavailable', 422, message);
  }
}

/** A reference the operator's policy does not allow (or never allows); 422 naming the reference and the setting. */
export class CredentialRefForbiddenError extends GantryError {
  constructor(message: string, field?: string) {
    super('credential_ref_forbidden', 422, message, field ? [{ path: field, message: 'reference not allowed on this server' }] : undefined);
  }
}
