// The configuration-as-code file format of `gantry apply` / `gantry export`: one YAML document per resource
// (`apiVersion: gantry/v1`, `kind`, `metadata.name`, `spec`). Spec fields carry the API's own names; a
// reference to another resource is its name (`environment`, `registry`). The published JSON Schema
// (schemas/gantry-config.schema.json) is generated from these schemas. The server validates again on apply.
import { z } from 'zod';
import { credentialRef } from '../core/credential-ref.js';
import { nameSchema } from '../core/ids.js';
import { secretKeyPaths } from '../core/secret-keys.js';
import { httpUrl } from '../core/urls.js';
import { STRATEGIES, strategyConfig } from '../protocol/deployment.js';

export const API_VERSION = 'gantry/v1';

/** Kinds in dependency order: creates and changes run in this order, deletes in the reverse. */
export const KINDS = ['WorkflowTemplate', 'Integration', 'NotificationChannel', 'Environment', 'Target', 'Component'] as const;
export type Kind = (typeof KINDS)[number];

const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const windowBase = { name: z.string().min(1).max(100), reason: z.string().max(500).optional() };
const freezeWindow = z.discriminatedUnion('kind', [
  z.strictObject({
    ...windowBase,
    kind: z.literal('recurring'),
    rrule: z.string().min(6).max(500).regex(/FREQ=/, 'must be an RFC 5545 RRULE such as "FREQ=WEEKLY;BYDAY=FR;BYHOUR=18;BYMINUTE=0"'),
    timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "Europe/Berlin"'),
    durationMinutes: z
      .number()
      .int()
      .min(1)
      .max(60 * 24 * 31),
  }),
  z.strictObject({
    ...windowBase,
    kind: z.literal('one_off'),
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
  }),
]);

const environmentSpec = z.strictObject({
  displayName: z.string().max(200).optional(),
  orderIndex: z.number().int().min(0).max(10_000).optional().describe('Promotion order (0 = first); when absent, not managed.'),
  requiredApprovals: z.number().int().min(0).max(100).optional().describe('Distinct approvals a promotion here needs (default 0).'),
  requireSod: z.boolean().optional().describe('Separation of duties: requester, release creator and approvers differ (default false).'),
  config: z
    .strictObject({
      requirePreviousEnvironment: z.boolean().optional(),
      gates: z
        .array(z.union([z.string().min(1).max(100), z.strictObject({ id: z.string().min(1).max(100), config: z.unknown().optional() })]))
        .optional(),
      overrideRoles: z.array(z.enum(['admin', 'release_manager', 'approver', 'deployer'])).optional(),
      promotionTemplate: z.string().min(1).max(100).optional(),
      autoRollback: z.boolean().optional(),
      targetSelector: z.record(z.string(), z.string()).optional(),
      deployment: strategyConfig.extend({ strategy: z.enum(STRATEGIES).optional() }).optional(),
    })
    .optional()
    .describe('Environment configuration (docs/promotions.md, docs/deployments.md).'),
  freezeWindows: z.array(freezeWindow).max(100).optional(),
});

const labels = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/, 'label keys are lowercase letters, digits, ".", "_", "/" or "-"'),
  z.string().max(256),
);
const tls = z.strictObject({ caRef: credentialRef.optional(), certRef: credentialRef.optional(), keyRef: credentialRef.optional() });
const targetBase = {
  environment: nameSchema.describe('Name of the environment the target belongs to.'),
  labels: labels.optional(),
};
const targetSpec = z.discriminatedUnion('targetType', [
  z.strictObject({
    ...targetBase,
    targetType: z.literal('docker_host'),
    connection: z.strictObject({ dockerHost: z.string().min(1).max(1000), tls: tls.optional() }),
  }),
  z.strictObject({
    ...targetBase,
    targetType: z.literal('compose_host'),
    connection: z.strictObject({
      dockerHost: z.string().min(1).max(1000),
      projectDir: z.string().min(1).max(4096),
      composeCommand: z.string().min(1).max(200).optional().describe('Default "docker compose".'),
      projectName: z.string().min(1).max(63).optional(),
    }),
  }),
  z.strictObject({
    ...targetBase,
    targetType: z.literal('ssh_host'),
    connection: z.strictObject({
      host: z.string().min(1).max(253),
      port: z.number().int().min(1).max(65535).optional().describe('Default 22.'),
      user: z.string().min(1).max(32),
      credentialRef,
      dockerHost: z.string().min(1).max(1000).optional(),
      hostKeyFingerprint: z.string().max(100).optional(),
    }),
  }),
]);

const channel = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, "_" or "-", starting with a letter');
const componentSpec = z.strictObject({
  displayName: z.string().max(200).optional(),
  imageRepository: z.string().min(1).max(255).describe('The OCI repository, without tag or digest.'),
  registry: nameSchema.nullable().optional().describe('Name of the oci_registry integration tags are read through.'),
  versioningStrategy: z
    .strictObject({
      type: z.enum(['semver', 'date', 'sequential', 'manual']),
      tagPattern: z.string().min(1).max(500).optional(),
      semverExtract: z.string().min(1).max(500).optional(),
      channels: z
        .strictObject({
          release: channel.optional(),
          prerelease: channel.optional(),
          byPrerelease: z.record(z.string(), channel).optional(),
        })
        .optional(),
    })
    .optional()
    .describe('Default {"type": "semver"}.'),
  defaultChannel: channel.optional().describe('Default "stable".'),
});

/** Config keys that look like they hold a secret, and PEM blocks: refused, so files stay safe to commit. */
function noSecretsIn(config: Record<string, unknown> | undefined, ctx: z.RefinementCtx): void {
  for (const p of secretKeyPaths(config ?? {})) {
    ctx.addIssue({
      code: 'custom',
      path: ['config', ...p],
      message: 'looks like a secret; reference it with credentialRef (secret:NAME or env:NAME) instead',
    });
  }
  const walk = (v: unknown, at: string[]): void => {
    if (typeof v === 'string' && /-----BEGIN [A-Z ]+-----/.test(v)) {
      ctx.addIssue({ code: 'custom', path: ['config', ...at], message: 'holds key material; reference it with credentialRef instead' });
    } else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  walk(config, []);
}

const integrationSpec = z
  .strictObject({
    typeId: z
      .string()
      .min(1)
      .max(64)
      .refine((t) => t !== 'notification_webhook', 'notification webhooks are declared with kind NotificationChannel')
      .describe('Integration type: oci_registry, secret_store_vault, scanner_webhook, policy_webhook, or a plugin type.'),
    config: z.record(z.string(), z.unknown()).optional().describe('Type-specific settings; never secrets.'),
    credentialRef: credentialRef.optional(),
  })
  .superRefine((s, ctx) => noSecretsIn(s.config, ctx));

const notificationChannelSpec = z.strictObject({
  url: httpUrl.describe('Where the webhook is POSTed.'),
  format: z.enum(['generic', 'slack']).optional().describe('Default "generic".'),
  events: z
    .array(z.string().regex(/^[a-z][a-z0-9_.*-]{0,99}$/, 'must be an event name such as "promotion.approved" or "promotion.*"'))
    .max(100)
    .optional()
    .describe('Events to send; default: all.'),
  credentialRef: credentialRef.optional(),
});

const templateName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');
const identifier = z.string().regex(/^[A-Za-z_]\w{0,63}$/, 'letters, digits and "_", starting with a letter or "_"');
const workflowTemplateSpec = z.strictObject({
  nodes: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'letters, digits, "_" or "-", starting with a letter or "_"'),
        type: z.string().min(1).max(100),
        config: z.record(z.string(), z.unknown()).optional(),
        retry: z
          .strictObject({
            maxAttempts: z.number().int().min(1).max(100).optional(),
            backoff: z
              .strictObject({ initialSeconds: z.number().optional(), factor: z.number().optional(), maxSeconds: z.number().optional() })
              .optional(),
          })
          .optional(),
        timeoutSeconds: z.number().int().min(1).optional(),
        when: z.string().min(1).max(2000).optional(),
      }),
    )
    .min(1)
    .max(500),
  edges: z.array(z.strictObject({ from: z.string(), to: z.string() })).optional(),
  inputs: z
    .record(
      identifier,
      z.strictObject({
        type: z.enum(['string', 'number', 'boolean', 'object', 'array']),
        required: z.boolean().optional(),
        default: z.unknown().optional(),
        description: z.string().max(500).optional(),
      }),
    )
    .optional(),
  outputs: z.record(identifier, z.string().min(1).max(2000)).optional(),
});

export const SPECS = {
  WorkflowTemplate: workflowTemplateSpec,
  Integration: integrationSpec,
  NotificationChannel: notificationChannelSpec,
  Environment: environmentSpec,
  Target: targetSpec,
  Component: componentSpec,
} as const satisfies Record<Kind, z.ZodType>;

const DESCRIPTIONS: Record<Kind, string> = {
  WorkflowTemplate: 'A workflow template (docs/workflows.md); a change saves a new version.',
  Integration: 'A registry, secret store, scanner or policy webhook; secrets only as credentialRef.',
  NotificationChannel: 'A notification webhook (an integration of type notification_webhook).',
  Environment: 'An environment: promotion order, approvals, separation of duties, freeze windows.',
  Target: 'A host deployments go to, in one environment.',
  Component: 'A deployable component: an image repository and how its tags become versions.',
};

function documentOf<K extends Kind>(kind: K) {
  return z
    .strictObject({
      apiVersion: z.literal(API_VERSION),
      kind: z.literal(kind),
      metadata: z.strictObject({
        name: (kind === 'WorkflowTemplate' ? templateName : nameSchema).describe('The resource name: its identity.'),
      }),
      spec: SPECS[kind],
    })
    .describe(DESCRIPTIONS[kind]);
}

/** One document of a configuration file. */
export const configDocument = z.discriminatedUnion(
  'kind',
  KINDS.map((k) => documentOf(k)) as unknown as [ReturnType<typeof documentOf<'Environment'>>, ...ReturnType<typeof documentOf<Kind>>[]],
);

/** The JSON Schema editors use (yaml-language-server applies it to each document of a file). */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configDocument, { target: 'draft-7', io: 'input', unrepresentable: 'any' }),
    $id: 'https://gantry.dev/schemas/gantry-config.schema.json',
    title: 'Gantry configuration (gantry apply)',
  };
}
