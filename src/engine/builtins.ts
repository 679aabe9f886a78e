// The registry of built-in step types; plugins register theirs through the same interface.
import { StepRegistry } from './registry.js';
import { noopStep, setOutputsStep, timerStep } from './steps/basic.js';
import { approvalWaitStep, deployStep, gateEvaluationStep, httpCallStep, notifyStep } from './steps/external.js';

export function builtinRegistry(): StepRegistry {
  return new StepRegistry()
    .register(noopStep)
    .register(setOutputsStep)
    .register(timerStep)
    .register(httpCallStep)
    .register(notifyStep)
    .register(approvalWaitStep)
    .register(deployStep)
    .register(gateEvaluationStep);
}
