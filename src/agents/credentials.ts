// Agent identity: one-time join tokens, registration, hashed credentials, rotation, and the lookup that
// authenticates every agent request. Only SHA-256 hashes of tokens and credentials are stored.
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { ConflictError, GantryError, UnauthorizedError } from '../core/errors.js';
import { hashToken } from '../core/tokens.js';
import { type Db, type Tx, withSystem } from '../store/db.js';
import type { joinTokenCreate, registerBody } from './model.js';

export const JOIN_TOKEN_PREFIX = 'gjt_';
export const CREDENTIAL_PREFIX = 'gta_';

const secret = (prefix: string) => prefix + randomBytes(32).toString('base64url');

/** The agent behind a credential; every agent route works on this, never on a user's roles. */
export interface AgentAuth {
  agentId: string;
  tenantId: string;
  name: string;
  sessionId: string | null;
  /** The agent's declared capabilities, read with the credential (the runner of its task requests). */
  capabilities?: AgentCapabilities;
}

/** What an agent's capabilities say about the work it takes. */
export interface AgentCapabilities {
  executors?: string[];
  actions?: unknown;
}

export class AgentTokenError extends GantryError {
  constructor(message: string) {
    super('agent_token_invalid', 401, message);
  }
}

/** 403: the agent was revoked (gantry agent revoke); its credential never works again. */
export class AgentRevokedError extends GantryError {
  constructor(name: string) {
    super(
      'agent_revoked',
      403,
      `Agent "${name}" was revoked (gantry agent revoke): it gets no tasks. To bring the host back, register it under another name with a new join token.`,
    );
  }
}

export async function createJoinToken(tx: Tx, tenantId: string, userId: string, input: z.infer<typeof joinTokenCreate>, now: Date) {
  const token = secret(JOIN_TOKEN_PREFIX);
  const expiresAt = new Date(now.getTime() + input.expiresInSeconds * 1000);
  const r = await tx.query<{ id: string }>(
    `INSERT INTO agent_join_tokens (tenant_id, token_hash, description, labels, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [tenantId, hashToken(token), input.description ?? '', JSON.stringify(input.labels ?? {}), expiresAt, userId],
  );
  return { id: r.rows[0]!.id, token, expiresAt: expiresAt.toISOString() };
}

async function issueCredential(tx: Tx, tenantId: string, agentId: string): Promise<string> {
  const credential = secret(CREDENTIAL_PREFIX);
  await tx.query('INSERT INTO agent_credentials (tenant_id, agent_id, secret_hash) VALUES ($1, $2, $3)', [
    tenantId,
    agentId,
    hashToken(credential),
  ]);
  return credential;
}

/**
 * Spends a join token (single use, unexpired) and creates the agent with its first credential, in one
 * transaction: a token can never register two agents. Re-registering an existing, unrevoked name
 * replaces its credentials (a reinstalled host).
 */
export async function register(db: Db, joinToken: string, body: z.infer<typeof registerBody>, now: Date) {
  return withSystem(db, async (tx) => {
    const t = await tx.query<{ id: string; tenant_id: string; labels: Record<string, string> }>(
      `UPDATE agent_join_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
       RETURNING id, tenant_id, labels`,
      [hashToken(joinToken), now],
    );
    const tok = t.rows[0];
    if (!tok)
      throw new AgentTokenError('The join token is unknown, expired or already used; create a new one with `gantry agent token create`.');
    const labels = { ...tok.labels, ...(body.capabilities.labels ?? {}) };
    const existing = await tx.query<{ id: string; revoked_at: Date | null }>(
      'SELECT id, revoked_at FROM agents WHERE tenant_id = $1 AND name = $2 FOR UPDATE',
      [tok.tenant_id, body.name],
    );
    let agentId: string;
    if (existing.rows[0]) {
      if (existing.rows[0].revoked_at) {
        throw new ConflictError(`Agent "${body.name}" was revoked; register under another name.`, 'agent_revoked');
      }
      agentId = existing.rows[0].id;
      await tx.query('UPDATE agent_credentials SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL', [agentId, now]);
      await tx.query('UPDATE agents SET version = $2, capabilities = $3, labels = $4 WHERE id = $1', [
        agentId,
        body.version,
        JSON.stringify(body.capabilities),
        JSON.stringify(labels),
      ]);
    } else {
      const a = await tx.query<{ id: string }>(
        `INSERT INTO agents (tenant_id, name, version, capabilities, labels, status) VALUES ($1, $2, $3, $4, $5, 'offline') RETURNING id`,
        [tok.tenant_id, body.name, body.version, JSON.stringify(body.capabilities), JSON.stringify(labels)],
      );
      agentId = a.rows[0]!.id;
    }
    await tx.query('UPDATE agent_join_tokens SET used_by = $2 WHERE id = $1', [tok.id, agentId]);
    const credential = await issueCredential(tx, tok.tenant_id, agentId);
    return { agentId, tenantId: tok.tenant_id, name: body.name, credential };
  });
}

/** Resolves "Authorization: Bearer gta_…" to its agent; 401 for unknown or rotated-away credentials, 403 for a revoked agent's. */
export async function authenticateAgent(db: Db, header: string | undefined): Promise<AgentAuth> {
  const m = header?.match(/^Bearer\s+(gta_\S+)$/i);
  if (!m?.[1]) throw new UnauthorizedError('Agent routes need "Authorization: Bearer <agent credential>" (from registration).');
  const r = await db.query<{
    agent_id: string;
    tenant_id: string;
    name: string;
    session_id: string | null;
    agent_revoked: boolean;
    capabilities: AgentCapabilities;
  }>(
    `SELECT c.agent_id, c.tenant_id, a.name, a.session_id, a.revoked_at IS NOT NULL AS agent_revoked, a.capabilities
       FROM agent_credentials c JOIN agents a ON a.id = c.agent_id
      WHERE c.secret_hash = $1 AND (c.revoked_at IS NULL OR a.revoked_at IS NOT NULL)`,
    [hashToken(m[1])],
  );
  const row = r.rows[0];
  if (!row)
    throw new UnauthorizedError('The agent credential is unknown, rotated or revoked; register the agent again with a new join token.');
  if (row.agent_revoked) throw new AgentRevokedError(row.name);
  return { agentId: row.agent_id, tenantId: row.tenant_id, name: row.name, sessionId: row.session_id, capabilities: row.capabilities };
}

/** Issues a new credential and revokes the agent's others, in one transaction. */
export async function rotateCredential(db: Db, auth: AgentAuth, now: Date): Promise<string> {
  return withSystem(db, async (tx) => {
    await tx.query('UPDATE agent_credentials SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL', [auth.agentId, now]);
    return issueCredential(tx, auth.tenantId, auth.agentId);
  });
}
