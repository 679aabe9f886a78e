// URLs a tenant configures (registries, webhooks, CI links): the shape every domain accepts.
import { z } from 'zod';

/** An http(s) URL without user:password@, since credentials belong in a secret store. */
export const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2000)
  // zod runs this even when the URL check above failed, so an unparsable value is left to that check
  .refine((u) => {
    if (!URL.canParse(u)) return true;
    const parsed = new URL(u);
    return parsed.username === '' && parsed.password === '';
  }, 'must not embed user:password; put the secret in a secret store and reference it with credentialRef');
