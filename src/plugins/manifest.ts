// The plugin manifest (gantry-plugin.json): who the plugin is, what it contributes, the config schema of
// its per-tenant instances and the plugin API version it needs. Also validates JSON Schemas it carries.
import { Ajv, type ErrorObject } from 'ajv';
import { z } from 'zod';
import { type ProblemField, ValidationError } from '../core/errors.js';

/** The plugin API this server speaks. A plugin naming another major version is refused at install. */
export const PLUGIN_API_VERSION = '1';
export const MANIFEST_FILE = 'gantry-plugin.json';

const contributionName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and "-", starting with a letter')
  .describe('Name within the plugin; gates and step types are addressed as plugin.<pluginId>.<name>.');

/** A JSON Schema object (draft 2020-12 subset understood by Ajv); checked for validity at install. */
const jsonSchema = z.record(z.string(), z.unknown()).describe('A JSON Schema (object) for the values this accepts.');

const contribution = z.strictObject({
  name: contributionName,
  description: z.string().max(500).default(''),
  configSchema: jsonSchema
    .optional()
    .describe(
      'Schema of the per-use config (a gate’s config in an environment, a step’s input, a registry’s or secret store’s integration config).',
    ),
});

const executorContribution = contribution.extend({
  connectionSchema: jsonSchema
    .optional()
    .describe(
      'Schema of the connection of a target of this type (target type plugin.<pluginId>.<name>); credentialRef is checked by Gantry.',
    ),
});

export const manifestSchema = z.strictObject({
  pluginId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and "-" (it becomes part of gate and step ids)')
    .describe('Unique plugin identifier, e.g. "acme-window".'),
  version: z.string().min(1).max(64).describe('The plugin’s own version, e.g. 1.2.0.'),
  vendor: z.string().max(200).default(''),
  description: z.string().max(1000).default(''),
  apiVersion: z.string().regex(/^\d+$/, 'must be a major version such as "1"').describe('The Gantry plugin API version it needs.'),
  entrypoint: z
    .string()
    .regex(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]+\.(m?js)$/, 'must be a relative path to a .js or .mjs file inside the package')
    .describe('ES module the plugin host imports, relative to the package root.'),
  configSchema: jsonSchema.optional().describe('Schema of a tenant’s plugin-instance config.'),
  contributes: z
    .strictObject({
      gates: z.array(contribution).max(50).default([]),
      stepTypes: z.array(contribution).max(50).default([]),
      notificationChannels: z.array(contribution).max(50).default([]),
      targetExecutors: z.array(executorContribution).max(50).default([]),
      registries: z.array(contribution).max(50).default([]),
      secretStores: z.array(contribution).max(50).default([]),
    })
    .default({ gates: [], stepTypes: [], notificationChannels: [], targetExecutors: [], registries: [], secretStores: [] }),
  timeoutMs: z.number().int().min(100).max(300_000).default(10_000).describe('Per-call time limit for this plugin.'),
  memoryMb: z.number().int().min(32).max(4096).default(256).describe('Heap limit of the plugin process.'),
});
export type PluginManifest = z.infer<typeof manifestSchema>;

/** Contribution kinds exported as an object of functions keyed by name (`export const gates = { name: fn }`). */
export const FUNCTION_KINDS = ['gates', 'stepTypes', 'notificationChannels'] as const;
/** Contribution kinds exported as an object of method tables keyed by name (`export const registries = { name: { listTags, … } }`). */
export const METHOD_KINDS = ['targetExecutors', 'registries', 'secretStores'] as const;
export type FunctionKind = (typeof FUNCTION_KINDS)[number];
export type MethodKind = (typeof METHOD_KINDS)[number];
export const HOSTED_KINDS = [...FUNCTION_KINDS, ...METHOD_KINDS] as const;

/**
 * The methods each method kind's table must have (required) and may have (optional) in plugin API 1; the
 * contracts are in docs/plugins.md. Activation fails, naming the gap, when a required one is missing.
 */
export const CONTRACT_METHODS: Record<MethodKind, { required: readonly string[]; optional: readonly string[] }> = {
  targetExecutors: { required: ['deploy', 'health', 'rollback', 'observe'], optional: ['plan', 'remove'] },
  registries: { required: ['listTags', 'resolve'], optional: ['labels', 'ping'] },
  secretStores: { required: ['resolve'], optional: ['ping'] },
};

// One compiler for every schema a plugin brings; strict off so vendor keywords (x-…) do not refuse a manifest.
const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });

function manifestFields(issues: z.core.$ZodIssue[]): ProblemField[] {
  return issues.map((i) => ({ path: ['manifest', ...i.path.map(String)].join('.'), message: i.message }));
}

/** Parses a manifest file's JSON; refuses with every wrong field named, and schemas that do not compile. */
export function parseManifest(raw: unknown): PluginManifest {
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const fields = manifestFields(r.error.issues);
    throw new ValidationError(`The plugin manifest is invalid: ${fields[0]?.path}: ${fields[0]?.message}`, fields, 'manifest_invalid');
  }
  const m = r.data;
  if (m.apiVersion !== PLUGIN_API_VERSION) {
    throw new ValidationError(
      `Plugin ${m.pluginId} needs Gantry plugin API ${m.apiVersion}; this server provides API ${PLUGIN_API_VERSION}.`,
      [{ path: 'manifest.apiVersion', message: `must be "${PLUGIN_API_VERSION}"` }],
      'plugin_api_unsupported',
    );
  }
  const schemas: [string, Record<string, unknown> | undefined][] = [['manifest.configSchema', m.configSchema]];
  for (const kind of HOSTED_KINDS) {
    m.contributes[kind].forEach((c, i) => {
      schemas.push([`manifest.contributes.${kind}.${i}.configSchema`, c.configSchema]);
      if ('connectionSchema' in c) {
        schemas.push([`manifest.contributes.${kind}.${i}.connectionSchema`, c.connectionSchema as Record<string, unknown> | undefined]);
      }
    });
  }
  for (const [path, schema] of schemas) {
    if (!schema) continue;
    try {
      compile(schema);
    } catch (err) {
      throw new ValidationError(
        `${path} is not a valid JSON Schema: ${(err as Error).message}`,
        [{ path, message: 'invalid JSON Schema' }],
        'manifest_invalid',
      );
    }
  }
  return m;
}

// Ajv caches by schema object; schemas read from the database are new objects each time, so key by text.
const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
function compile(schema: Record<string, unknown>) {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(key, v);
  }
  return v;
}

const errorPath = (prefix: string, e: ErrorObject) => [prefix, ...e.instancePath.split('/').filter(Boolean)].join('.');

/**
 * Validates a value against a plugin-supplied JSON Schema, returning it with schema defaults filled in.
 * Errors are reported under `prefix` (e.g. body.config) so problem documents name the field.
 */
export function validateAgainst(schema: Record<string, unknown> | undefined, value: unknown, prefix: string): unknown {
  if (!schema) return value;
  const copy = structuredClone(value);
  const validate = compile(schema);
  if (validate(copy)) return copy;
  const fields = (validate.errors ?? []).map((e) => ({ path: errorPath(prefix, e), message: e.message ?? 'invalid' }));
  throw new ValidationError(`Invalid ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`, fields);
}
