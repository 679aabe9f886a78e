// `gantry workflow …`: workflow templates (versioned DAGs of steps) and their runs.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { type ApiOpts, apiCommand, clientFor, collect, emit, parseIntOption, parseJsonObject } from './api-command.js';
import { type ApiClient, ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';

interface Template {
  id: string;
  name: string;
  version: number;
  isBuiltin: boolean;
  nodes: { id: string; type: string; when?: string }[];
  edges: { from: string; to: string }[];
  inputs: Record<string, { type: string; required?: boolean }>;
  createdAt: string;
}

interface Step {
  nodeId: string;
  status: string;
  attemptNumber: number;
  error: string | null;
  logs: string;
  startedAt: string | null;
  completedAt: string | null;
}

interface Run {
  id: string;
  templateName: string;
  templateVersion: number;
  status: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  error: string | null;
  createdAt: string;
  completedAt: string | null;
  steps?: Step[];
}

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** Reads a spec file holding one object (`holds` says what, for the error): JSON, or YAML for .yaml/.yml. */
export function readObjectFile(file: string, holds = 'an object with nodes and edges'): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.invalid);
  }
  let v: unknown;
  try {
    v = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`, EXIT.invalid);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CliError(`${file} must hold ${holds}`, EXIT.invalid);
  return v as Record<string, unknown>;
}

/** `--input k=v` values: JSON when they parse (numbers, booleans, objects), otherwise strings. */
function parseInputs(specs: string[] = [], file?: string): Record<string, unknown> {
  const out: Record<string, unknown> = file ? parseJsonObject(`@${file}`, '--inputs-file') : {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq < 1) throw new CliError(`--input must look like name=value, got "${spec}"`, EXIT.invalid);
    const raw = spec.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[spec.slice(0, eq)] = value;
  }
  return out;
}

function printRun(r: Run): void {
  printRecord({
    id: r.id,
    template: `${r.templateName}@${r.templateVersion}`,
    status: r.status,
    inputs: r.inputs,
    outputs: r.outputs,
    error: r.error,
    createdAt: r.createdAt,
    completedAt: r.completedAt,
  });
  if (r.steps?.length) {
    process.stdout.write('\n');
    printTable(r.steps, [
      ['NODE', (s) => s.nodeId],
      ['ATTEMPT', (s) => s.attemptNumber],
      ['STATUS', (s) => s.status],
      ['STARTED', (s) => s.startedAt],
      ['ERROR', (s) => s.error],
    ]);
  }
}

async function waitForRun(client: ApiClient, id: string, quiet: boolean): Promise<Run> {
  const seen = new Map<string, string>();
  for (;;) {
    const r = await client.get<Run>(`/workflow-runs/${id}`);
    if (!quiet) {
      for (const s of r.steps ?? []) {
        const key = `${s.nodeId}#${s.attemptNumber}`;
        if (seen.get(key) !== s.status) {
          seen.set(key, s.status);
          process.stderr.write(`  ${s.nodeId} (attempt ${s.attemptNumber}): ${s.status}${s.error ? ` — ${s.error}` : ''}\n`);
        }
      }
    }
    if (FINISHED.has(r.status)) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}

export function registerWorkflowCommands(program: Command): void {
  const wf = program.command('workflow').description('Workflow templates (DAGs of steps, versioned) and their runs');

  apiCommand(wf, 'templates', 'List templates (latest version of each, built-ins included)', ['gantry workflow templates']).action(
    async (opts: ApiOpts) => {
      const items = await clientFor(opts).listAll<Template>('/workflow-templates');
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['NAME', (t) => t.name],
          ['VERSION', (t) => t.version],
          ['BUILT-IN', (t) => (t.isBuiltin ? 'yes' : 'no')],
          ['NODES', (t) => t.nodes.map((n) => n.id).join(' → ')],
        ]),
      );
    },
  );

  apiCommand(wf, 'template <name>', 'Show a template (latest, or --version N)', ['gantry workflow template standard-promotion'])
    .option('--version <n>', 'a specific version')
    .action(async (name: string, opts: ApiOpts & { version?: string }) => {
      const t = await clientFor(opts).get<Template>(`/workflow-templates/${ref(name)}`, {
        version: opts.version === undefined ? undefined : parseIntOption(opts.version, '--version'),
      });
      emit(opts, t, () => {
        printRecord({ name: t.name, version: t.version, builtin: t.isBuiltin, inputs: t.inputs, id: t.id, createdAt: t.createdAt });
        process.stdout.write('\n');
        printTable(t.nodes, [
          ['NODE', (n) => n.id],
          ['TYPE', (n) => n.type],
          [
            'AFTER',
            (n) =>
              t.edges
                .filter((e) => e.to === n.id)
                .map((e) => e.from)
                .join(', ') || '-',
          ],
          ['WHEN', (n) => n.when],
        ]);
      });
    });

  apiCommand(wf, 'create <name>', 'Create a template from a JSON or YAML file (validated: acyclic, known step types, references)', [
    'gantry workflow create smoke-test -f smoke.yaml',
  ])
    .requiredOption('-f, --file <path>', 'template file with nodes, edges, inputs, outputs')
    .action(async (name: string, opts: ApiOpts & { file: string }) => {
      const t = await clientFor(opts).post<Template>('/workflow-templates', { ...readObjectFile(opts.file), name });
      emit(opts, t, () => process.stdout.write(`created template ${t.name} version ${t.version}\n`));
    });

  apiCommand(wf, 'update <name>', 'Save a new version of a template from a file; running runs keep their version', [
    'gantry workflow update smoke-test -f smoke.yaml',
  ])
    .requiredOption('-f, --file <path>', 'template file with nodes, edges, inputs, outputs')
    .action(async (name: string, opts: ApiOpts & { file: string }) => {
      const body = readObjectFile(opts.file);
      delete body.name;
      const t = await clientFor(opts).post<Template>(`/workflow-templates/${ref(name)}/versions`, body);
      emit(opts, t, () => process.stdout.write(`saved template ${t.name} version ${t.version}\n`));
    });

  apiCommand(wf, 'run <template>', 'Start a run; --wait follows it to the end (exit 1 unless it succeeds)', [
    'gantry workflow run smoke-test --input url=http://127.0.0.1:8080/healthz --wait',
  ])
    .option('--input <name=value>', 'an input (repeatable); values that parse as JSON keep their type', collect)
    .option('--inputs-file <path>', 'inputs as a JSON object file')
    .option('--version <n>', 'template version (default: latest)')
    .option('--wait', 'wait for the run to finish, printing step progress to stderr')
    .action(async (template: string, opts: ApiOpts & { input?: string[]; inputsFile?: string; version?: string; wait?: boolean }) => {
      const client = clientFor(opts);
      const started = await client.post<Run>('/workflow-runs', {
        template,
        inputs: parseInputs(opts.input, opts.inputsFile),
        ...(opts.version === undefined ? {} : { version: parseIntOption(opts.version, '--version') }),
      });
      if (!opts.wait) {
        emit(opts, started, () =>
          process.stdout.write(`started run ${started.id} of ${started.templateName}@${started.templateVersion}\n`),
        );
        return;
      }
      if (!opts.json) process.stderr.write(`run ${started.id} of ${started.templateName}@${started.templateVersion}\n`);
      const done = await waitForRun(client, started.id, Boolean(opts.json));
      emit(opts, done, printRun);
      if (done.status !== 'succeeded')
        throw new CliError(`run ${done.id} ${done.status}${done.error ? `: ${done.error}` : ''}`, EXIT.other);
    });

  apiCommand(wf, 'runs', 'List runs, newest first', ['gantry workflow runs --status failed'])
    .option('--status <status>', 'pending|running|succeeded|failed|cancelled')
    .action(async (opts: ApiOpts & { status?: string }) => {
      const items = await clientFor(opts).listAll<Run>('/workflow-runs', { status: opts.status });
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['ID', (r) => r.id],
          ['TEMPLATE', (r) => `${r.templateName}@${r.templateVersion}`],
          ['STATUS', (r) => r.status],
          ['CREATED', (r) => r.createdAt],
          ['ERROR', (r) => r.error],
        ]),
      );
    });

  apiCommand(wf, 'get <run-id>', 'Show a run with every step attempt; --logs prints the logs too', ['gantry workflow get 0193… --logs'])
    .option('--logs', 'print each attempt’s logs')
    .action(async (id: string, opts: ApiOpts & { logs?: boolean }) => {
      const r = await clientFor(opts).get<Run>(`/workflow-runs/${ref(id)}`);
      emit(opts, r, () => {
        printRun(r);
        if (opts.logs) {
          for (const s of r.steps ?? []) if (s.logs) process.stdout.write(`\n--- ${s.nodeId} (attempt ${s.attemptNumber})\n${s.logs}`);
        }
      });
    });

  apiCommand(wf, 'cancel <run-id>', 'Cancel a run; its running steps are stopped', ['gantry workflow cancel 0193…']).action(
    async (id: string, opts: ApiOpts) => {
      const r = await clientFor(opts).post<Run>(`/workflow-runs/${ref(id)}/cancel`, {});
      emit(opts, r, () => process.stdout.write(`run ${r.id} ${r.status}\n`));
    },
  );

  apiCommand(
    wf,
    'event <run-id> <node> <event>',
    'Deliver an event (approved, rejected, deployment_finished, a callback) to a waiting step',
    [
      'gantry workflow event 0193… wait_for_approvals approved',
      'gantry workflow event 0193… deploy deployment_finished --payload \'{"status":"succeeded"}\'',
    ],
  )
    .option('--payload <json>', 'event payload (JSON object or @file)')
    .action(async (id: string, node: string, event: string, opts: ApiOpts & { payload?: string }) => {
      const payload = opts.payload === undefined ? {} : parseJsonObject(opts.payload, '--payload');
      const s = await clientFor(opts).post<Step>(`/workflow-runs/${ref(id)}/steps/${ref(node)}/events`, { event, payload });
      emit(opts, s, () => process.stdout.write(`${s.nodeId} (attempt ${s.attemptNumber}) is ${s.status}\n`));
    });
}
