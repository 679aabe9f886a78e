// Types of the endpoints that landed after the generated schema was last refreshed, or are still
// landing: promotions, evidence and deployments, written from their documented contract (docs/api.md,
// DESIGN §10). Called through `raw` in client.ts. Regenerate (npm run openapi) to move them to schema.d.ts.

export type GateStatus = 'pass' | 'fail' | 'pending';
export interface GateResult {
  gate: string;
  status: GateStatus;
  reason: string;
  inputs: Record<string, unknown>;
  retryAt?: string;
  policyVersion?: string;
}

export type PromotionStatus =
  | 'pending'
  | 'awaiting_approval'
  | 'approved'
  | 'deploying'
  | 'deployed'
  | 'rejected'
  | 'cancelled'
  | 'failed'
  | 'rolled_back';

export interface Actor {
  id: string;
  username: string;
}

export interface Approval {
  id: string;
  approver: Actor;
  action: 'approved' | 'rejected';
  comment: string;
  approvedAt: string;
}

export interface Promotion {
  id: string;
  releaseId: string;
  releaseName: string;
  sourceEnvironmentId: string | null;
  sourceEnvironmentName: string | null;
  targetEnvironmentId: string;
  targetEnvironmentName: string;
  status: PromotionStatus;
  reason: string;
  blockedReason: string | null;
  nextEvaluationAt: string | null;
  decisionRecord: Record<string, unknown>;
  workflowRunId: string | null;
  requestedBy: Actor;
  requestedAt: string;
  updatedAt: string;
  completedAt: string | null;
}
export interface PromotionDetail extends Promotion {
  approvals: Approval[];
}

export interface PromotionPreview {
  release: { id: string; name: string };
  sourceEnvironment: { id: string; name: string } | null;
  targetEnvironment: { id: string; name: string };
  gates: GateResult[];
  wouldPass: boolean;
}

export interface PromotionGates {
  promotionId: string;
  status: PromotionStatus;
  blockedReason: string | null;
  nextEvaluationAt: string | null;
  evaluatedAt: string | null;
  gates: GateResult[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export type PacketType = 'release_decision' | 'deployment' | 'rollback' | 'gate_override';

export interface EvidencePacket {
  id: string;
  tenantId: string;
  promotionId: string | null;
  packetType: PacketType;
  sequence: number;
  content: Record<string, unknown>;
  contentHash: string;
  signature: string;
  signerKeyRef: string;
  previousHash: string | null;
  reuseKey: string | null;
  createdAt: string;
}

export interface SigningKey {
  keyId: string;
  algorithm: 'ed25519';
  publicKeyPem: string;
  createdAt: string;
  retiredAt: string | null;
}

export interface EvidenceBundle {
  format: string;
  exportedAt: string;
  tenant: { id: string; name: string };
  filter: Record<string, string>;
  packets: EvidencePacket[];
  keys: { keyid: string; publicKeyPem: string; createdAt: string; retiredAt: string | null }[];
  chain: {
    scope: 'chain' | 'subset';
    fromSequence: number | null;
    toSequence: number | null;
    anchorHash: string | null;
    headSequence: number | null;
    headHash: string | null;
    links: { sequence: number; contentHash: string; previousHash: string | null }[];
  };
}

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type TaskStatus = 'pending' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface TaskComponent {
  name: string;
  image: string;
  digest: string;
  previousDigest: string | null;
}

export interface DeploymentTask {
  id: string;
  targetId: string;
  targetName: string;
  targetType: string;
  status: TaskStatus;
  batch: number;
  digest: string;
  previousDigest: string | null;
  components: TaskComponent[];
  agentId: string | null;
  leaseOwner: string | null;
  attempt: number;
  error: string | null;
  health: Record<string, unknown> | null;
  startedAt: string | null;
  completedAt: string | null;
}

export interface ArtifactRef {
  name: string;
  taskId: string | null;
  sha256: string;
  mediaType: string;
}

export interface DeploymentJob {
  id: string;
  promotionId: string | null;
  releaseId: string;
  releaseName: string;
  environmentId: string;
  environmentName: string;
  status: JobStatus;
  strategy: 'all_at_once' | 'rolling' | 'canary' | 'blue_green';
  strategyConfig: Record<string, unknown>;
  currentBatch: number;
  batchCount: number;
  pausedReason: string | null;
  autoRollback: boolean;
  rollbackOf: string | null;
  error: string | null;
  artifacts: ArtifactRef[];
  counts: Record<string, number>;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
}
export interface DeploymentDetail extends DeploymentJob {
  tasks: DeploymentTask[];
}

export interface LogLine {
  taskId: string;
  targetName: string;
  attempt: number;
  seq: number;
  at: string;
  line: string;
}
export interface LogsPage {
  lines: LogLine[];
  next: number;
}
export interface Artifact extends ArtifactRef {
  content: string;
}
