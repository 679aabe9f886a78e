// `gantry apply` and `gantry export`: configuration as code. apply reads files, shows the plan (create /
// change / delete, field by field), asks, applies and records the apply with the files' sha256; export
// writes what the server holds as such files.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, collect } from './api-command.js';
import { hashFiles, parseConfigFiles, readConfigFiles } from './apply-load.js';
import { formatPlan, isNoop, planChanges } from './apply-plan.js';
import { checkReferences, runPlan } from './apply-run.js';
import { exportFiles, readServerState } from './apply-state.js';
import { CliError, EXIT, printJson } from './output.js';

/** The published JSON Schema of the files (its $id); export points the editor line at it unless told otherwise. */
export const SCHEMA_URL = 'https://gantry.dev/schemas/gantry-config.schema.json';

interface ApplyOpts extends ApiOpts {
  file: string[];
  prune?: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

interface ExportOpts extends ApiOpts {
  output?: string;
  schemaRef: string;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function registerApplyCommands(program: Command): void {
  apiCommand(program, 'apply', 'Make the server match configuration files: show the plan, then create, change (and with --prune delete)', [
    'gantry apply -f gantry.yaml --dry-run',
    'gantry apply -f examples/config/',
    'gantry apply -f config/ --yes --prune',
    'gantry apply -f config/ --dry-run --json',
  ])
    .requiredOption('-f, --file <path>', 'a configuration file or a directory of them (*.yaml, *.yml, *.json); repeatable', collect)
    .option('--dry-run', 'show the plan only; change nothing')
    .option('--prune', 'delete what the server has and the files do not declare (never workflow templates)')
    .option('-y, --yes', 'apply without asking (needed when stdin is not a terminal)')
    .action(async (opts: ApplyOpts) => {
      const files = readConfigFiles(opts.file);
      const declared = parseConfigFiles(files);
      const hash = hashFiles(files);
      const client = clientFor(opts);
      const state = await readServerState(client);
      checkReferences(declared, state);
      const plan = planChanges(declared, state.resources, opts.prune === true);
      const noop = isNoop(plan);
      if (!opts.json) process.stdout.write(formatPlan(plan));
      let applied = 0;
      if (!noop && !opts.dryRun) {
        if (!opts.yes) {
          if (!process.stdin.isTTY) {
            throw new CliError(
              'refusing to apply without confirmation: stdin is not a terminal; pass --yes (or --dry-run to only see the plan)',
              EXIT.invalid,
            );
          }
          if (!(await confirm('Apply these changes? [y/N] '))) throw new CliError('cancelled; nothing was changed', EXIT.other);
        }
        applied = await runPlan(client, plan, declared, state);
        await client.post('/config-applies', {
          sha256: hash.sha256,
          files: hash.files,
          created: plan.filter((p) => p.action === 'create').length,
          changed: plan.filter((p) => p.action === 'change').length,
          deleted: plan.filter((p) => p.action === 'delete').length,
          changes: plan
            .filter((p) => p.action !== 'keep')
            .map((p) => ({ action: p.action, kind: p.kind, name: p.name, fields: p.changes.map((c) => c.field) })),
        });
        if (!opts.json) process.stdout.write(`Applied ${applied} ${applied === 1 ? 'change' : 'changes'} (files sha256 ${hash.sha256}).\n`);
      }
      if (opts.json) printJson({ sha256: hash.sha256, files: hash.files, noop, applied: applied > 0, plan });
    });

  apiCommand(program, 'export', 'Write what the server holds as configuration files for `gantry apply` (never secrets)', [
    'gantry export > gantry.yaml',
    'gantry export -o config/',
    'gantry export -o config/ --schema-ref ../schemas/gantry-config.schema.json',
  ])
    .option('-o, --output <dir>', 'write one file per kind into this directory (default: one stream on stdout)')
    .option('--schema-ref <ref>', 'JSON Schema the files name for editors (# yaml-language-server: $schema=…)', SCHEMA_URL)
    .action(async (opts: ExportOpts) => {
      const state = await readServerState(clientFor(opts));
      const files = exportFiles(state.resources, opts.schemaRef);
      if (opts.json) {
        printJson(state.resources);
        return;
      }
      if (!opts.output) {
        const header = `# yaml-language-server: $schema=${opts.schemaRef}\n`;
        process.stdout.write(header + files.map((f) => f.text.slice(header.length)).join('---\n'));
        return;
      }
      mkdirSync(opts.output, { recursive: true });
      for (const f of files) writeFileSync(path.join(opts.output, f.name), f.text);
      process.stdout.write(`wrote ${files.map((f) => path.join(opts.output!, f.name)).join(', ')}\n`);
    });
}
