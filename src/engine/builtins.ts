// The registry of built-in step types; plugins register theirs through the same interface.

import { denyingOutbound, type Outbound } from '../http/outbound.js';
import { StepRegistry } from './registry.js';
import { noopStep, setOutputsStep, timerStep } from './steps/basic.js';
import {
  approvalWaitStep,
  createDeployStep,
  createHttpCallStep,
  createNotifyStep,
  type DeployHandoff,
  gateEvaluationStep,
} from './steps/external.js';

/**
 * `deploy` hands over to the deployments domain when the server passes it one (server.ts); http_call and
 * notify go out through `outbound` (without one, through a door that refuses private and loopback addresses).
 */
export function builtinRegistry(opts: { deploy?: DeployHandoff; outbound?: Outbound } = {}): StepRegistry {
  const outbound = opts.outbound ?? denyingOutbound();
  return new StepRegistry()
    .register(noopStep)
    .register(setOutputsStep)
    .register(timerStep)
    .register(createHttpCallStep(outbound))
    .register(createNotifyStep(outbound))
    .register(approvalWaitStep)
    .register(createDeployStep(opts.deploy))
    .register(gateEvaluationStep);
}
