// API token format and hashing: only the SHA-256 of a token is stored.
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'gty_';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The first characters shown in listings so an operator can tell tokens apart. */
export function tokenDisplayPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX.length + 6);
}
