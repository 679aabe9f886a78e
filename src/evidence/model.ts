// Evidence: response and query schemas (the single source of validation, OpenAPI and TS types).
import { z } from 'zod';
import { type evidenceBundle, type evidencePacket, packetType } from '../protocol/evidence-format.js';

export { BUNDLE_FORMAT, evidenceBundle, evidencePacket, packetType } from '../protocol/evidence-format.js';

export type EvidencePacketOut = z.infer<typeof evidencePacket>;
export type EvidenceBundle = z.infer<typeof evidenceBundle>;

export const signingKey = z.object({
  keyId: z.string(),
  algorithm: z.literal('ed25519'),
  publicKeyPem: z.string(),
  createdAt: z.string(),
  retiredAt: z.string().nullable(),
});
export type SigningKey = z.infer<typeof signingKey>;

export const evidenceFilter = z.strictObject({
  promotion: z.uuid().optional().describe('Only packets of this promotion.'),
  environment: z.string().min(1).max(100).optional().describe('Only packets whose content names this environment (id or name).'),
  type: packetType.optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Only packets created at or after this time.'),
});
export type EvidenceFilter = z.infer<typeof evidenceFilter>;
