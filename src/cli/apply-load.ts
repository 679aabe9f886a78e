// Reading configuration files for `gantry apply`: files or directories of YAML (or JSON) documents,
// validated against the file format with every problem named as file:line:column and field, and the
// sha256 of what was read (recorded with the apply).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { API_VERSION, KINDS, type Kind, SPECS } from './apply-format.js';
import { CliError, EXIT } from './output.js';

export interface SourceFile {
  path: string;
  text: string;
}

/** A resource as the files declare it (or, for export and plans, as the server holds it). */
export interface Resource {
  kind: Kind;
  name: string;
  spec: Record<string, unknown>;
}

export interface DeclaredResource extends Resource {
  /** "file:line:col" of the document, for messages. */
  source: string;
  /** "file:line:col" of a field of the document (or of its nearest enclosing node that exists). */
  at(fieldPath: (string | number)[]): string;
}

/** A file problem: one line per finding, each naming file:line:col and the field. */
export class ConfigFileError extends CliError {
  constructor(readonly problems: string[]) {
    super(
      `the configuration files are invalid (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'})`,
      EXIT.invalid,
      problems,
    );
  }
}

/** Names as the API accepts them: resources in general, and workflow templates (which may end in "-", "." or "_"). */
const NAME_RULES = {
  resource: {
    re: /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/,
    says: 'lowercase letters, digits, ".", "_" or "-", 1–63 characters, starting and ending with a letter or digit',
  },
  template: {
    re: /^[a-z0-9][a-z0-9._-]{0,62}$/,
    says: 'lowercase letters, digits, ".", "_" or "-", 1–63 characters, starting with a letter or digit',
  },
};

const CONFIG_FILE_RE = /\.(ya?ml|json)$/i;

/** Reads the given files, and the *.yaml, *.yml and *.json files of the given directories (recursively, sorted). */
export function readConfigFiles(paths: string[]): SourceFile[] {
  const out: SourceFile[] = [];
  const visit = (p: string, explicit: boolean): void => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      throw new CliError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.invalid);
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) if (!e.startsWith('.')) visit(path.join(p, e), false);
    } else if (explicit || CONFIG_FILE_RE.test(p)) {
      out.push({ path: p, text: readFileSync(p, 'utf8') });
    }
  };
  for (const p of paths) visit(p, true);
  if (out.length === 0) throw new CliError(`no configuration files (*.yaml, *.yml, *.json) in ${paths.join(', ')}`, EXIT.invalid);
  return out;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The hash recorded with an apply: for one file the sha256 of its bytes (what `sha256sum` prints); for
 * several, the sha256 of their `sha256sum`-style listing ("<hash>  <path>\n" per file, in order).
 */
export function hashFiles(files: SourceFile[]): { sha256: string; files: { path: string; sha256: string }[] } {
  const each = files.map((f) => ({ path: f.path, sha256: sha256(f.text) }));
  const all = each.length === 1 ? each[0]!.sha256 : sha256(each.map((f) => `${f.sha256}  ${f.path}\n`).join(''));
  return { sha256: all, files: each };
}

/** The node of `doc` at `fieldPath`, or of its nearest enclosing node when the field is not written. */
function nodeAt(doc: Document, fieldPath: (string | number)[]): Node | null {
  let node: unknown = doc.contents;
  for (const key of fieldPath) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof key === 'number' && node.items[key]) {
      node = node.items[key];
    } else {
      break;
    }
  }
  return (node as Node | null) ?? null;
}

/** The key node of `key` in the map at `fieldPath` (where an unknown field is written). */
function keyNodeAt(doc: Document, fieldPath: (string | number)[], key: string): Node | null {
  const node = nodeAt(doc, fieldPath);
  if (!isMap(node)) return node;
  const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
  return (pair?.key as Node | undefined) ?? node;
}

/** A field path as the messages name it: `spec.freezeWindows[0].timezone`. */
export const fieldName = (p: (string | number)[]) => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('');

function issueMessages(
  issues: z.core.$ZodIssue[],
  base: (string | number)[],
): { path: (string | number)[]; key?: string; message: string }[] {
  return issues.flatMap((i) => {
    const p = [...base, ...(i.path as (string | number)[])];
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: p, key: k, message: 'unknown field' }));
    if (i.code === 'invalid_union' && i.errors.length && p.length) {
      // A union: report the alternative with the fewest problems, the one most likely meant.
      const best = [...i.errors].sort((a, b) => a.length - b.length)[0];
      if (best?.length) return issueMessages(best, p);
    }
    // A field that is missing altogether: say so, rather than zod's "expected string, received undefined".
    const missing = i.code === 'invalid_type' && /received undefined$/.test(i.message);
    return [{ path: p, message: missing ? 'required' : i.message }];
  });
}

/** Parses and validates every document of `files`; throws a ConfigFileError listing every problem. */
export function parseConfigFiles(files: SourceFile[]): DeclaredResource[] {
  const problems: string[] = [];
  const out: DeclaredResource[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const before = problems.length;
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(file.text, { lineCounter, prettyErrors: false });
    const pos = (offset: number | undefined) => {
      const { line, col } = lineCounter.linePos(offset ?? 0);
      return `${file.path}:${line}:${col}`;
    };
    if (!Array.isArray(docs)) continue; // an empty file
    for (const doc of docs) {
      if (doc.errors.length) {
        for (const e of doc.errors) problems.push(`${pos(e.pos[0])}: ${e.message.split('\n')[0]}`);
        continue;
      }
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) continue; // an empty document, e.g. after a trailing ---
      const where = (p: (string | number)[]) => pos(nodeAt(doc, p)?.range?.[0]);
      const fail = (p: (string | number)[], message: string, node?: Node | null) =>
        problems.push(`${node ? pos(node.range?.[0]) : where(p)}: ${p.length ? `${fieldName(p)}: ` : ''}${message}`);
      if (typeof value !== 'object' || Array.isArray(value)) {
        fail([], `must be a mapping with apiVersion, kind, metadata and spec`);
        continue;
      }
      const v = value as Record<string, unknown>;
      if (v.apiVersion !== API_VERSION) {
        fail(['apiVersion'], `must be "${API_VERSION}"`);
        continue;
      }
      if (!KINDS.includes(v.kind as Kind)) {
        fail(['kind'], `must be one of ${KINDS.join(', ')}`);
        continue;
      }
      const kind = v.kind as Kind;
      for (const k of Object.keys(v))
        if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k)) fail([k], 'unknown field', keyNodeAt(doc, [], k));
      const meta = v.metadata as Record<string, unknown> | undefined;
      const name = typeof meta === 'object' && meta !== null ? meta.name : undefined;
      const rule = NAME_RULES[kind === 'WorkflowTemplate' ? 'template' : 'resource'];
      const nameOk = typeof name === 'string' && rule.re.test(name);
      if (!nameOk) fail(['metadata', 'name'], `required: ${rule.says}`);
      else
        for (const k of Object.keys(meta ?? {})) if (k !== 'name') fail(['metadata', k], 'unknown field', keyNodeAt(doc, ['metadata'], k));
      const parsed = SPECS[kind].safeParse(v.spec ?? {});
      if (!parsed.success) {
        for (const m of issueMessages(parsed.error.issues, ['spec'])) {
          fail(m.key ? [...m.path, m.key] : m.path, m.message, m.key ? keyNodeAt(doc, m.path, m.key) : undefined);
        }
      }
      if (!nameOk || !parsed.success) continue;
      // Integrations and notification channels are both integrations: one namespace.
      const space = kind === 'NotificationChannel' ? 'Integration' : kind;
      const source = where([]);
      const first = seen.get(`${space}/${name}`);
      if (first) {
        fail(['metadata', 'name'], `${kind} "${name}" is declared twice (first at ${first})`);
        continue;
      }
      seen.set(`${space}/${name}`, source);
      // The parsed spec: defaults the server fills in nested settings (a deployment strategy's) are filled alike.
      out.push({ kind, name, spec: parsed.data as Record<string, unknown>, source, at: (p) => where(p) });
    }
    // In the order of the file, whichever check found them.
    const mine = problems.splice(before).map((text) => ({ text, at: /:(\d+):(\d+): /.exec(text.slice(file.path.length)) }));
    mine.sort((a, b) => Number(a.at?.[1]) - Number(b.at?.[1]) || Number(a.at?.[2]) - Number(b.at?.[2]));
    problems.push(...mine.map((m) => m.text));
  }
  if (problems.length) throw new ConfigFileError(problems);
  return out;
}
