// Validation rules written once and enforced twice: by the apiserver as CEL
// (x-kubernetes-validations on the generated CRD) and by the operator and
// console through zod, so a rule and its message cannot drift apart.
import type { z } from 'zod';

export interface Rule<T> {
  /** CEL over `self` (and `oldSelf` for transition rules). */
  cel: string;
  /** Names the field and says what to do. */
  message: string;
  /** The same check in TypeScript; omitted for transition rules (oldSelf). */
  test?: (value: T) => boolean;
  /** The field the message is about, relative to self (CEL fieldPath). */
  fieldPath?: string;
}

export interface CelValidation {
  rule: string;
  message: string;
  fieldPath?: string;
}

/** Attaches rules to a schema: CEL for the CRD, refinements for zod. */
export function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  const meta = (schema.meta() ?? {}) as Record<string, unknown>;
  const existing = (meta['x-kubernetes-validations'] as CelValidation[] | undefined) ?? [];
  const cel: CelValidation[] = rules.map((r) => ({
    rule: r.cel,
    message: r.message,
    ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}),
  }));
  let refined = schema;
  for (const r of rules) {
    const test = r.test;
    if (test) refined = refined.refine((v) => test(v), { message: r.message });
  }
  return refined.meta({ ...meta, 'x-kubernetes-validations': [...existing, ...cel] });
}

/** Escapes a JavaScript regular expression source for a CEL string literal. */
export function celRegex(re: RegExp): string {
  return `'${re.source.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
