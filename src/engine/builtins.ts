// The registry of built-in step types; plugins register theirs through the same interface.
import { StepRegistry } from './registry.js';
import { noopStep, setOutputsStep, timerStep } from './steps/basic.js';
import { approvalWaitStep, createDeployStep, type DeployHandoff, gateEvaluationStep, httpCallStep, notifyStep } from './steps/external.js';

/** `deploy` hands over to the deployments domain when the server passes it one (server.ts). */
export function builtinRegistry(opts: { deploy?: DeployHandoff } = {}): StepRegistry {
  return new StepRegistry()
    .register(noopStep)
    .register(setOutputsStep)
    .register(timerStep)
    .register(httpCallStep)
    .register(notifyStep)
    .register(approvalWaitStep)
    .register(createDeployStep(opts.deploy))
    .register(gateEvaluationStep);
}
