// Agents: reads within a tenant transaction, and revocation (of the agent, or of one client certificate).
import { NotFoundError, ValidationError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import { afterOf, toPage } from '../http/pagination.js';
import type { Tx } from '../store/db.js';
import { certificatesOf, normalizeFingerprint, revokeCertificates } from './certificates.js';
import type { Agent } from './model.js';

interface AgentRow {
  id: string;
  name: string;
  version: string;
  capabilities: Record<string, unknown>;
  labels: Record<string, string>;
  resources: Record<string, unknown>;
  status_reason: string | null;
  status: Agent['status'];
  last_heartbeat: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const agentOut = (r: AgentRow): Agent => ({
  id: r.id,
  name: r.name,
  version: r.version,
  capabilities: r.capabilities,
  labels: r.labels,
  resources: r.resources,
  statusReason: r.status_reason,
  status: r.status,
  lastHeartbeat: r.last_heartbeat?.toISOString() ?? null,
  revokedAt: r.revoked_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
});

/** Finds an agent by id or name, with its client certificates; 404 when it does not exist in this tenant. */
export async function getAgent(tx: Tx, ref: string): Promise<Agent> {
  const byId = UUID_RE.test(ref);
  const r = await tx.query<AgentRow>(`SELECT * FROM agents WHERE ${byId ? 'id = $1::uuid' : 'name = $1'}`, [ref]);
  if (!r.rows[0]) throw new NotFoundError('Agent', ref);
  const certificates = (await certificatesOf(tx, r.rows[0].id)).map((c) => ({
    fingerprint: c.fingerprint,
    serial: c.serial,
    subject: c.subject,
    notAfter: c.not_after?.toISOString() ?? null,
    firstSeenAt: c.first_seen_at.toISOString(),
    revokedAt: c.revoked_at?.toISOString() ?? null,
  }));
  return { ...agentOut(r.rows[0]), certificates };
}

export async function listAgents(tx: Tx, limit: number, cursor: string | undefined) {
  const r = await tx.query<AgentRow>('SELECT * FROM agents WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2', [
    afterOf(cursor) ?? null,
    limit + 1,
  ]);
  return toPage(r.rows, limit, (row) => [row.id], agentOut);
}

/**
 * Revokes an agent: its credentials and every client certificate it presented stop working at once (the
 * agent routes check both on every request) and its leased tasks return to the queue. With a certificate
 * fingerprint, only that certificate is revoked.
 */
export async function revokeAgent(tx: Tx, tenantId: string, ref: string, now: Date, certificate?: string): Promise<Agent> {
  const a = await getAgent(tx, ref);
  if (certificate !== undefined) {
    const fingerprint = normalizeFingerprint(certificate);
    if (!fingerprint) {
      throw new ValidationError(
        'certificate must be a SHA-256 fingerprint: "sha256:<64 hex>" or "AB:CD:…" (openssl x509 -noout -fingerprint -sha256 -in agent.pem)',
      );
    }
    await revokeCertificates(tx, tenantId, a.id, now, fingerprint);
    return getAgent(tx, a.id);
  }
  await revokeCertificates(tx, tenantId, a.id, now);
  await tx.query(`UPDATE agents SET revoked_at = coalesce(revoked_at, $2), status = 'offline', session_id = NULL WHERE id = $1`, [
    a.id,
    now,
  ]);
  await tx.query('UPDATE agent_credentials SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL', [a.id, now]);
  await tx.query(
    `UPDATE deployment_tasks SET status = 'pending', agent_id = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE agent_id = $1 AND status IN ('assigned', 'running')`,
    [a.id],
  );
  return getAgent(tx, a.id);
}
