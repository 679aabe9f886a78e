// Validation of values a route schema could not check (their shape depends on stored state), as 400s that
// name each field.
import type { z } from 'zod';
import { type ProblemField, ValidationError } from './errors.js';

/** Turns zod issues into problem fields under a request path such as "body.config". */
export function issuesToFields(issues: readonly z.core.$ZodIssue[], prefix: string): ProblemField[] {
  return issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.join(',') : '';
    const path = [prefix, ...issue.path.map(String), keys].filter(Boolean).join('.');
    return { path, message: issue.message };
  });
}

/** Validates a value the route schema could not (its shape depends on stored state); 400 naming each field. */
export function parseAt<T extends z.ZodType>(schema: T, value: unknown, prefix: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const fields = issuesToFields(r.error.issues, prefix);
  throw new ValidationError(`Invalid ${fields[0]?.path ?? prefix}: ${fields[0]?.message ?? 'invalid'}`, fields);
}
