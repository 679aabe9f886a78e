// How ids and names look, shared by every domain: a UUID (the database's ids) and a resource name.
import { z } from 'zod';

/** A UUID in its canonical text form (any case); a ref that matches is looked up as an id, else as a name. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The name of a resource (environment, target, user, secret, …), unique per tenant where it names one. */
export const nameSchema = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/,
    'lowercase letters, digits, ".", "_" or "-", 1–63 characters, starting and ending with a letter or digit',
  );
