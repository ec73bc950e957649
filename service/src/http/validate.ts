import type { z } from 'zod';
import { errors } from '../errors.js';

/** Parse with a schema or throw 400 VALIDATION_FAILED with one detail per issue. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const details = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = details[0];
    throw errors.validation(`Invalid ${what}${first ? `: ${first.path ? `${first.path}: ` : ''}${first.message}` : ''}`, details);
  }
  return r.data;
}
