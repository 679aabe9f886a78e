// Named response types taken from the generated schema, so pages never restate the API's shapes.
import type { paths } from './schema';

type Ok<Op> = Op extends { responses: infer R }
  ? R extends { 200: { content: { 'application/json': infer T } } }
    ? T
    : R extends { 201: { content: { 'application/json': infer T } } }
      ? T
      : never
  : never;

/** The JSON body of the success response of `method` on `path`. */
export type Body<P extends keyof paths, M extends keyof paths[P]> = Ok<paths[P][M]>;
export type ItemOf<L> = L extends { items: (infer I)[] } ? I : never;

export type WhoAmI = Body<'/api/v1/whoami', 'get'>;
export type Environment = Body<'/api/v1/environments/{ref}', 'get'>;
export type FreezeWindow = Environment['freezeWindows'][number];
export type Target = Body<'/api/v1/targets/{ref}', 'get'>;
export type Agent = Body<'/api/v1/agents/{ref}', 'get'>;
export type Component = Body<'/api/v1/components/{ref}', 'get'>;
export type ComponentVersion = ItemOf<Body<'/api/v1/components/{ref}/versions', 'get'>>;
export type Integration = Body<'/api/v1/integrations/{ref}', 'get'>;
export type Release = Body<'/api/v1/releases/{ref}', 'get'>;
export type ReleaseDiff = Body<'/api/v1/releases/{ref}/diff/{other}', 'get'>;
export type WorkflowTemplate = Body<'/api/v1/workflow-templates/{ref}', 'get'>;
export type WorkflowRun = ItemOf<Body<'/api/v1/workflow-runs', 'get'>>;
export type WorkflowRunDetail = Body<'/api/v1/workflow-runs/{id}', 'get'>;
export type StepRun = WorkflowRunDetail['steps'][number];
export type User = ItemOf<Body<'/api/v1/users', 'get'>>;
export type Token = ItemOf<Body<'/api/v1/tokens', 'get'>>;

/** The query parameters of `GET path`. */
export type Query<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } } ? NonNullable<Q> : never;

export type Promotion = ItemOf<Body<'/api/v1/promotions', 'get'>>;
export type PromotionStatus = Promotion['status'];
export type PromotionDetail = Body<'/api/v1/promotions/{id}', 'get'>;
export type PromotionPreview = Body<'/api/v1/promotions/preview', 'post'>;
export type PromotionGates = Body<'/api/v1/promotions/{id}/gates', 'get'>;
export type GateResult = PromotionGates['gates'][number];
export type EvidencePacket = Body<'/api/v1/evidence/{id}', 'get'>;
export type SigningKey = ItemOf<Body<'/api/v1/evidence/keys', 'get'>>;
export type EvidenceBundle = Body<'/api/v1/evidence/export', 'get'>;
export type DeploymentJob = ItemOf<Body<'/api/v1/deployments', 'get'>>;
export type DeploymentStatus = DeploymentJob['status'];
export type DeploymentDetail = Body<'/api/v1/deployments/{id}', 'get'>;
export type DeploymentTask = DeploymentDetail['tasks'][number];
export type LogLine = Body<'/api/v1/deployments/{id}/logs', 'get'>['lines'][number];
export type Artifact = Body<'/api/v1/deployments/{id}/artifacts/{name}', 'get'>;
export type DriftRow = ItemOf<Body<'/api/v1/drift', 'get'>>;
export type NextActions = Body<'/api/v1/environments/{ref}/next-actions', 'get'>;
export type NextAction = NextActions['items'][number];
export type EnvironmentTargetSummary = ItemOf<Body<'/api/v1/target-summary', 'get'>>;
export type TargetBrief = EnvironmentTargetSummary['targets'][number];
export type DeploymentTasksPage = Body<'/api/v1/deployments/{id}/tasks', 'get'>;
export type TargetHistoryEntry = ItemOf<Body<'/api/v1/targets/{ref}/history', 'get'>>;
export type PromotionPlan = Body<'/api/v1/promotions/{id}/plan', 'get'>;
export type DeploymentPlan = NonNullable<PromotionPlan['plan']>;
export type PromotionWhy = Body<'/api/v1/promotions/{id}/why', 'get'>;
export type TargetTimeline = Body<'/api/v1/targets/{ref}/timeline', 'get'>;
export type TargetAt = Body<'/api/v1/targets/{ref}/at', 'get'>;
export type Rollout = Body<'/api/v1/rollouts/{id}', 'get'>;
export type RolloutSummary = Body<'/api/v1/rollouts', 'get'>[number];
export type RolloutStep = Rollout['steps'][number];
