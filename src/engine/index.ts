// The workflow engine's public surface: the one module domains and the server import. The engine runs
// templates (template.ts) as runs of steps (rows.ts), evaluates their CEL expressions (expressions.ts),
// and looks step types up in a registry (registry.ts) that built-ins and plugins fill.
export { builtinRegistry } from './builtins.js';
export { Engine, type EngineOptions } from './engine.js';
export { type ExprContext, evalCondition, expressionsIn, referencesOf, syntaxError } from './expressions.js';
export { type StepContext, StepRegistry, type StepResult, type StepType } from './registry.js';
export type { RunRow, StepRow, TemplateRow } from './rows.js';
export { createDeployStep, type DeployHandoff } from './steps/external.js';
export { inputDef, nodeId, type TemplateBody, templateBody, templateEdge, templateNode } from './template.js';
export { endRun, insertStep, lockRun, STEPS_CHANNEL } from './transitions.js';
