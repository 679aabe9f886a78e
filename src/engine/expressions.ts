// CEL expressions in templates: `when` conditions, `${{ … }}` placeholders in node config, and run outputs.
import { parse } from '@marcbachmann/cel-js';

export interface ExprContext {
  inputs: Record<string, unknown>;
  steps: Record<string, { status: string; outputs: Record<string, unknown> }>;
  run: { id: string };
}

const PLACEHOLDER = /\$\{\{\s*([\s\S]+?)\s*\}\}/g;
// A string that is one placeholder and nothing else (no "}}" inside) keeps the value's type.
const WHOLE = /^\$\{\{\s*((?:(?!\}\})[\s\S])+?)\s*\}\}$/;

/** CEL integers are BigInt; JSON needs numbers. */
export function toJson(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJson(v)]));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

// Compiled programs by expression text: templates and environments are versioned, so the same texts come
// back on every evaluation; parsing was most of the cost of a policy gate.
const programs = new Map<string, ReturnType<typeof parse>>();

function program(expr: string): ReturnType<typeof parse> {
  let p = programs.get(expr);
  if (!p) {
    p = parse(expr);
    if (programs.size >= 2000) programs.clear();
    programs.set(expr, p);
  }
  return p;
}

/** Evaluates CEL over any object context (workflow expressions, promotion policies). */
export function evalExpr(expr: string, ctx: object): unknown {
  return toJson(program(expr)(ctx as Record<string, unknown>));
}

/** Returns the syntax error of an expression, or undefined when it parses. */
export function syntaxError(expr: string): string | undefined {
  try {
    parse(expr);
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

export function evalCondition(expr: string, ctx: object): boolean {
  const v = evalExpr(expr, ctx);
  if (typeof v !== 'boolean') throw new Error(`condition "${expr}" gave ${JSON.stringify(v)}, not a boolean`);
  return v;
}

/** Replaces `${{ expr }}` in strings (a whole-string placeholder keeps the value's type), recursively. */
export function resolveConfig(value: unknown, ctx: ExprContext): unknown {
  if (typeof value === 'string') {
    const whole = value.match(WHOLE);
    if (whole?.[1]) return evalExpr(whole[1], ctx);
    return value.replace(PLACEHOLDER, (_, e: string) => {
      const v = evalExpr(e, ctx);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolveConfig(v, ctx));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveConfig(v, ctx)]));
  }
  return value;
}

/** Every expression inside a config value, for validation. */
export function expressionsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    for (const m of value.matchAll(PLACEHOLDER)) if (m[1]) out.push(m[1]);
  } else if (Array.isArray(value)) {
    for (const v of value) expressionsIn(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) expressionsIn(v, out);
  }
  return out;
}

/** The inputs and steps an expression refers to (`inputs.x`, `steps.node`). */
export function referencesOf(expr: string): { inputs: string[]; steps: string[] } {
  const inputs = [...expr.matchAll(/\binputs\.([A-Za-z_]\w*)/g)].map((m) => m[1]!);
  const steps = [...expr.matchAll(/\bsteps\.([A-Za-z_][\w-]*)/g)].map((m) => m[1]!);
  return { inputs, steps };
}
