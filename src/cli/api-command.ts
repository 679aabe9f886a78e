// Shared plumbing for API commands: the --server/--token/--json options, building a client, and parsing
// option values (JSON, @file, integers, labels) into request bodies with exit code 2 on bad input.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient } from './client.js';
import { configPath, readConfig, resolveConnection } from './config.js';
import { CliError, EXIT, printJson } from './output.js';

export interface ApiOpts {
  server?: string;
  token?: string;
  json?: boolean;
  idempotencyKey?: string;
}

/** Adds a subcommand that talks to the API, with the options every such command takes. */
export function apiCommand(parent: Command, nameAndArgs: string, description: string, examples: string[] = []): Command {
  const cmd = parent
    .command(nameAndArgs)
    .description(description)
    .option('--json', 'print machine-readable JSON instead of a table')
    .option('--server <url>', 'Gantry server URL (env GANTRY_SERVER, then config file, then http://127.0.0.1:$GANTRY_PORT)')
    .option('--token <token>', 'API token (env GANTRY_TOKEN, then config file, then <data-dir>/admin.token for a local server)')
    .option(
      '--idempotency-key <key>',
      'key for the POSTs this command sends (default: a new one each run); running the command again with the same key returns the first answer instead of acting twice',
    );
  if (examples.length) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
  return cmd;
}

export function clientFor(opts: ApiOpts, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const file = configPath(env);
  const conn = resolveConnection(opts, env, readConfig(file), process.cwd(), file);
  return new ApiClient(conn, undefined, { idempotencyKey: opts.idempotencyKey });
}

/** Prints JSON with --json, otherwise runs the human renderer. */
export function emit<T>(opts: ApiOpts, value: T, human: (v: T) => void): void {
  if (opts.json) printJson(value);
  else human(value);
}

/** Parses a JSON option; `@path` reads the JSON from a file. */
export function parseJson(value: string, option: string): unknown {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new CliError(
        `${option}: cannot read ${value.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        EXIT.invalid,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${option} is not valid JSON: ${(err as Error).message}`, EXIT.invalid);
  }
}

export function parseJsonObject(value: string, option: string): Record<string, unknown> {
  const v = parseJson(value, option);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CliError(`${option} must be a JSON object`, EXIT.invalid);
  return v as Record<string, unknown>;
}

export function parseIntOption(value: string, option: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new CliError(`${option} must be a whole number, got "${value}"`, EXIT.invalid);
  return Number(value);
}

/** Commander collector for repeatable options (`--label a=1 --label b=2`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `k=v` sets a label; `k-` removes it (kubectl style), so updates can change one label at a time. */
export function applyLabels(current: Record<string, string>, specs: string[]): Record<string, string> {
  const out = { ...current };
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq > 0) out[spec.slice(0, eq)] = spec.slice(eq + 1);
    else if (spec.endsWith('-') && spec.length > 1) delete out[spec.slice(0, -1)];
    else throw new CliError(`--label must be key=value (or key- to remove), got "${spec}"`, EXIT.invalid);
  }
  return out;
}

/** Drops undefined values so PATCH bodies contain only what the operator asked to change. */
export function defined<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function requireChanges(body: Record<string, unknown>, hint: string): void {
  if (Object.keys(body).length === 0) throw new CliError(`nothing to change; pass at least one of ${hint}`, EXIT.invalid);
}

export function deleted(opts: ApiOpts, kind: string, name: string): void {
  emit(opts, { deleted: true, kind, name }, () => process.stdout.write(`deleted ${kind} ${name}\n`));
}
