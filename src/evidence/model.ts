// Evidence: response and query schemas (the single source of validation, OpenAPI and TS types).
import { z } from 'zod';
import { PACKET_TYPES } from './format.js';

export const packetType = z.enum(PACKET_TYPES);

export const evidencePacket = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  promotionId: z.uuid().nullable(),
  packetType,
  sequence: z.number().int().describe("Position in the tenant's chain, from 1."),
  // any-shaped JSON: each packet type has its own content; `content.packet` is the signed header.
  content: z.record(z.string(), z.unknown()),
  contentHash: z.string().describe('"sha256:<hex>" of the RFC 8785 canonical content.'),
  signature: z.string().describe('DSSE envelope (JSON) with the Ed25519 signature over the canonical content.'),
  signerKeyRef: z.string().describe('Key id of the signing key, "ed25519:<16 hex>"; see /evidence/keys.'),
  previousHash: z.string().nullable().describe("content_hash of the tenant's previous packet; null for the first."),
  reuseKey: z.string().nullable(),
  createdAt: z.string(),
});
export type EvidencePacketOut = z.infer<typeof evidencePacket>;

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

export const BUNDLE_FORMAT = 'gantry.evidence-bundle/v1';

export const chainLink = z.object({ sequence: z.number().int(), contentHash: z.string(), previousHash: z.string().nullable() });

export const evidenceBundle = z.object({
  format: z.literal(BUNDLE_FORMAT),
  exportedAt: z.string(),
  tenant: z.object({ id: z.uuid(), name: z.string() }),
  filter: z.record(z.string(), z.string()),
  packets: z.array(evidencePacket),
  keys: z.array(z.object({ keyid: z.string(), publicKeyPem: z.string(), createdAt: z.string(), retiredAt: z.string().nullable() })),
  chain: z.object({
    scope: z
      .enum(['chain', 'subset'])
      .describe('chain: every packet from fromSequence to toSequence is included; subset: a filtered selection.'),
    fromSequence: z.number().int().nullable(),
    toSequence: z.number().int().nullable(),
    anchorHash: z.string().nullable().describe('previous_hash of the first packet: what the bundle links back to (null: the chain start).'),
    headSequence: z.number().int().nullable().describe("The tenant's latest packet at export time."),
    headHash: z.string().nullable(),
    links: z
      .array(chainLink)
      .describe('For a subset: every link from fromSequence to toSequence, so gaps between included packets can be bridged.'),
  }),
});
export type EvidenceBundle = z.infer<typeof evidenceBundle>;
