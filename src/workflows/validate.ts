// Template validation on save: unique node ids, known step types, edges between known nodes, no cycles,
// and expressions that parse and refer only to declared inputs and upstream steps. Errors name the node or edge.
import { type ProblemField, ValidationError } from '../core/errors.js';
import { expressionsIn, referencesOf, syntaxError } from '../engine/index.js';
import type { TemplateBody } from './model.js';

export function upstreamOf(body: Pick<TemplateBody, 'nodes' | 'edges'>): Map<string, string[]> {
  const up = new Map<string, string[]>(body.nodes.map((n) => [n.id, []]));
  for (const e of body.edges) up.get(e.to)?.push(e.from);
  return up;
}

/** All ancestors of each node (transitive upstream). */
function ancestors(up: Map<string, string[]>): Map<string, Set<string>> {
  const memo = new Map<string, Set<string>>();
  const visit = (id: string): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const acc = new Set<string>();
    memo.set(id, acc);
    for (const p of up.get(id) ?? []) {
      acc.add(p);
      for (const a of visit(p)) acc.add(a);
    }
    return acc;
  };
  for (const id of up.keys()) visit(id);
  return memo;
}

/** Finds a cycle and returns it as node ids (first repeated at the end), or undefined. */
export function findCycle(body: Pick<TemplateBody, 'nodes' | 'edges'>): string[] | undefined {
  const down = new Map<string, string[]>(body.nodes.map((n) => [n.id, []]));
  for (const e of body.edges) down.get(e.from)?.push(e.to);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const dfs = (id: string): string[] | undefined => {
    state.set(id, 1);
    stack.push(id);
    for (const next of down.get(id) ?? []) {
      if (state.get(next) === 1) return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const c = dfs(next);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(id, 2);
    return undefined;
  };
  for (const n of body.nodes) {
    if (!state.has(n.id)) {
      const c = dfs(n.id);
      if (c) return c;
    }
  }
  return undefined;
}

export function validateTemplate(body: TemplateBody, knownTypes: (type: string) => boolean): void {
  const errors: ProblemField[] = [];
  const ids = new Set<string>();
  body.nodes.forEach((n, i) => {
    if (ids.has(n.id)) errors.push({ path: `body.nodes.${i}.id`, message: `node "${n.id}" is defined twice` });
    ids.add(n.id);
    if (!knownTypes(n.type)) errors.push({ path: `body.nodes.${i}.type`, message: `node "${n.id}" has unknown step type "${n.type}"` });
  });
  const seenEdges = new Set<string>();
  body.edges.forEach((e, i) => {
    if (!ids.has(e.from))
      errors.push({ path: `body.edges.${i}.from`, message: `edge ${e.from} → ${e.to} starts at unknown node "${e.from}"` });
    if (!ids.has(e.to)) errors.push({ path: `body.edges.${i}.to`, message: `edge ${e.from} → ${e.to} ends at unknown node "${e.to}"` });
    if (e.from === e.to) errors.push({ path: `body.edges.${i}`, message: `edge ${e.from} → ${e.to} points at itself` });
    const key = `${e.from}\u0000${e.to}`;
    if (seenEdges.has(key)) errors.push({ path: `body.edges.${i}`, message: `edge ${e.from} → ${e.to} is listed twice` });
    seenEdges.add(key);
  });
  if (errors.length) throw new ValidationError(errors[0]!.message, errors, 'template_invalid');

  const cycle = findCycle(body);
  if (cycle) {
    throw new ValidationError(
      `The template has a cycle: ${cycle.join(' → ')}`,
      [{ path: 'body.edges', message: `cycle through node "${cycle[0]}"` }],
      'template_invalid',
    );
  }

  const anc = ancestors(upstreamOf(body));
  const checkExpr = (expr: string, path: string, owner: string, allowedSteps: Set<string> | 'all') => {
    const syntax = syntaxError(expr);
    if (syntax) {
      errors.push({ path, message: `${owner}: expression "${expr}" does not parse: ${syntax}` });
      return;
    }
    const refs = referencesOf(expr);
    for (const i of refs.inputs) {
      if (!(i in body.inputs)) errors.push({ path, message: `${owner} refers to input "${i}", which the template does not declare` });
    }
    for (const s of refs.steps) {
      if (!ids.has(s)) errors.push({ path, message: `${owner} refers to unknown node "${s}"` });
      else if (allowedSteps !== 'all' && !allowedSteps.has(s)) {
        errors.push({ path, message: `${owner} refers to node "${s}", which is not upstream of it` });
      }
    }
  };
  body.nodes.forEach((n, i) => {
    const up = anc.get(n.id) ?? new Set<string>();
    if (n.when) checkExpr(n.when, `body.nodes.${i}.when`, `node "${n.id}"`, up);
    for (const e of expressionsIn(n.config ?? {})) checkExpr(e, `body.nodes.${i}.config`, `node "${n.id}"`, up);
  });
  for (const [name, expr] of Object.entries(body.outputs)) checkExpr(expr, `body.outputs.${name}`, `output "${name}"`, 'all');
  for (const [name, def] of Object.entries(body.inputs)) {
    if (def.required && def.default !== undefined)
      errors.push({ path: `body.inputs.${name}`, message: `input "${name}" is required and has a default; choose one` });
  }
  if (errors.length) throw new ValidationError(errors[0]!.message, errors, 'template_invalid');
}

/** Step types whose `url` the server fetches; a literal one is checked against the outbound policy on save. */
const URL_STEPS = new Set(['http_call', 'notify']);

/** Literal (expression-free) URLs of http_call and notify nodes, with the field each is in. */
export function literalUrls(body: Pick<TemplateBody, 'nodes'>): { url: string; path: string }[] {
  return body.nodes.flatMap((n, i) => {
    const url = n.config?.url;
    if (!URL_STEPS.has(n.type) || typeof url !== 'string' || url.includes('${')) return [];
    return [{ url, path: `body.nodes.${i}.config.url` }];
  });
}
