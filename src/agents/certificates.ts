// Agents' client certificates (mutual TLS): which certificate an agent presented, and revocation. The
// revocation check reads the database on every agent-protocol request, so a revocation made through any
// replica holds on every replica at once, with no cache to go stale.
import type { TLSSocket } from 'node:tls';
import { GantryError } from '../core/errors.js';
import type { Db, Tx } from '../store/db.js';
import type { AgentAuth } from './credentials.js';

/** The verified client certificate of a request, as the agent routes record and check it. */
export interface ClientCertificate {
  /** sha256:<hex>, over the DER certificate. */
  fingerprint: string;
  /** Upper-case hex, as openssl prints it. */
  serial: string;
  subject: string;
  notAfter: Date | null;
}

/** 403: the request presented a certificate revoked with `gantry agent revoke`. */
export class CertificateRevokedError extends GantryError {
  constructor(fingerprint: string) {
    super(
      'agent_certificate_revoked',
      403,
      `The client certificate ${fingerprint} was revoked (gantry agent revoke): issue this host a new certificate and register it again with a new join token.`,
    );
  }
}

/** "sha256:<64 hex>" from either that form or openssl's "AB:CD:…" output; undefined if it is neither. */
export function normalizeFingerprint(input: string): string | undefined {
  const hex = input
    .trim()
    .replace(/^sha256[:=]\s*/i, '')
    .replace(/^sha256 fingerprint=/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? `sha256:${hex}` : undefined;
}

/** The peer certificate of a mutual-TLS request; undefined when the connection has none. */
export function certificateOf(socket: Partial<TLSSocket>): ClientCertificate | undefined {
  const c = socket.getPeerCertificate?.();
  if (!c?.raw || !c.fingerprint256) return undefined;
  const notAfter = c.valid_to ? new Date(c.valid_to) : null;
  return {
    fingerprint: normalizeFingerprint(c.fingerprint256)!,
    serial: c.serialNumber.toUpperCase(),
    subject: Object.entries(c.subject ?? {})
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .join(', '),
    notAfter: notAfter && !Number.isNaN(notAfter.getTime()) ? notAfter : null,
  };
}

/** Refuses a revoked certificate (in any tenant: the same certificate is the same key holder). */
export async function refuseRevoked(db: Db, cert: ClientCertificate): Promise<void> {
  const r = await db.query('SELECT 1 FROM agent_certificates WHERE fingerprint = $1 AND revoked_at IS NOT NULL LIMIT 1', [
    cert.fingerprint,
  ]);
  if (r.rowCount) throw new CertificateRevokedError(cert.fingerprint);
}

/**
 * Binds the certificate to the agent that authenticated with it (once per process per pair: the
 * caller keeps `seen`). A certificate first seen from an agent that is being revoked is recorded revoked.
 */
export async function rememberCertificate(db: Db, auth: AgentAuth, cert: ClientCertificate, seen: Set<string>): Promise<void> {
  const key = `${auth.agentId}/${cert.fingerprint}`;
  if (seen.has(key)) return;
  await db.query(
    `INSERT INTO agent_certificates (tenant_id, agent_id, fingerprint, serial, subject, not_after, revoked_at)
     SELECT $1, $2, $3, $4, $5, $6, a.revoked_at FROM agents a WHERE a.id = $2
     ON CONFLICT (agent_id, fingerprint) DO UPDATE SET serial = coalesce(agent_certificates.serial, EXCLUDED.serial),
       subject = CASE WHEN agent_certificates.subject = '' THEN EXCLUDED.subject ELSE agent_certificates.subject END,
       not_after = coalesce(agent_certificates.not_after, EXCLUDED.not_after)`,
    [auth.tenantId, auth.agentId, cert.fingerprint, cert.serial, cert.subject, cert.notAfter],
  );
  if (seen.size > 10_000) seen.clear(); // bounded: forgetting only costs one idempotent insert
  seen.add(key);
}

export interface AgentCertificateRow {
  fingerprint: string;
  serial: string | null;
  subject: string;
  not_after: Date | null;
  first_seen_at: Date;
  revoked_at: Date | null;
}

export async function certificatesOf(tx: Tx, agentId: string): Promise<AgentCertificateRow[]> {
  const r = await tx.query<AgentCertificateRow>(
    `SELECT fingerprint, serial, subject, not_after, first_seen_at, revoked_at FROM agent_certificates
      WHERE agent_id = $1 ORDER BY first_seen_at, fingerprint`,
    [agentId],
  );
  return r.rows;
}

/** Revokes every certificate the agent presented, or the one fingerprint given (recorded even if never seen). */
export async function revokeCertificates(tx: Tx, tenantId: string, agentId: string, now: Date, fingerprint?: string): Promise<void> {
  if (fingerprint) {
    await tx.query(
      `INSERT INTO agent_certificates (tenant_id, agent_id, fingerprint, revoked_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (agent_id, fingerprint) DO UPDATE SET revoked_at = coalesce(agent_certificates.revoked_at, EXCLUDED.revoked_at)`,
      [tenantId, agentId, fingerprint, now],
    );
    return;
  }
  await tx.query('UPDATE agent_certificates SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL', [agentId, now]);
}
