// How a secret is referenced (never the secret itself): the format integrations, targets and configuration files share.
import { z } from 'zod';

const CREDENTIAL_REF_RE = new RegExp(
  [
    /^secret:[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/.source,
    /^env:[A-Z_][A-Z0-9_]*$/.source,
    /^file:\/[^\0\s]*$/.source,
    // vault:<integration-name>/<path>#<key>; the name follows the resource-name rule
    /^vault:[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*#[A-Za-z0-9._-]+$/.source,
  ].join('|'),
);

/** A pointer to a secret held elsewhere; the secret itself is never stored or returned by Gantry. */
export const credentialRef = z
  .string()
  .max(1000)
  .regex(
    CREDENTIAL_REF_RE,
    'must be "secret:<name>", "env:NAME" (NAME in A-Z, 0-9, _), "file:/absolute/path" or "vault:<integration-name>/<path>#<key>"',
  )
  .describe(
    "Where the secret lives: secret:<name> (this tenant's secret store), env:NAME or file:/absolute/path (only where the operator allows: GANTRY_SECRET_ENV_PREFIX, GANTRY_SECRET_DIRS) or vault:<integration-name>/<path>#<key>.",
  );
