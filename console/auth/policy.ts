// A password policy and how it reads, apart from hashing so that pages can
// show the rules without loading argon2.

export interface PasswordPolicy {
  minLength: number;
  requireDigit: boolean;
  requireUpper: boolean;
  requireLower: boolean;
  forbidSpaces: boolean;
  /** Days until a password must be changed; 0 turns ageing off. */
  maxAgeDays: number;
}

export const DEFAULT_POLICY: PasswordPolicy = {
  minLength: 8,
  requireDigit: true,
  requireUpper: true,
  requireLower: true,
  forbidSpaces: true,
  maxAgeDays: 365,
};

/** What a tenant's policy may ask for: never less than the console's default length. */
export const POLICY_LIMITS = { minLength: [8, 128], maxAgeDays: [0, 3650] } as const;

/** The rules in one sentence, for the page where a password is chosen. */
export function describePolicy(policy: PasswordPolicy): string {
  const needs = [
    policy.requireDigit && 'a digit',
    policy.requireUpper && 'an upper case letter',
    policy.requireLower && 'a lower case letter',
  ].filter(Boolean);
  const parts = [`At least ${policy.minLength} characters${needs.length ? ` with ${joinAnd(needs as string[])}` : ''}`];
  if (policy.forbidSpaces) parts.push('no spaces');
  parts.push('not a common password');
  return `${parts.join('; ')}.`;
}

function joinAnd(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
