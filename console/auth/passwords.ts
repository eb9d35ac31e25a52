// Local passwords: argon2id hashes (OWASP parameters) and the policy from the
// hosted vendors' security pages: at least 8 characters, a digit, an upper
// and a lower case letter, no spaces, renewed yearly, never a common one.
import { hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { type PasswordPolicy, DEFAULT_POLICY } from './policy.js';

export { DEFAULT_POLICY, POLICY_LIMITS, describePolicy, type PasswordPolicy } from './policy.js';

// OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
// Algorithm 2 is argon2id (the library's const enum cannot be imported here).
const ARGON2ID = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

let common: Set<string> | undefined;
function isCommon(password: string): boolean {
  common ??= new Set((dictionary as { passwords: string[] }).passwords);
  return common.has(password.toLowerCase());
}

/** Every rule the password breaks, as sentences a person can act on; empty when it is acceptable. */
export function passwordProblems(
  password: string,
  policy: PasswordPolicy = DEFAULT_POLICY,
  context: string[] = [],
): string[] {
  const problems: string[] = [];
  if ([...password].length < policy.minLength) problems.push(`use at least ${policy.minLength} characters`);
  if (policy.requireDigit && !/\d/.test(password)) problems.push('include a digit');
  if (policy.requireUpper && !/\p{Lu}/u.test(password)) problems.push('include an upper case letter');
  if (policy.requireLower && !/\p{Ll}/u.test(password)) problems.push('include a lower case letter');
  if (policy.forbidSpaces && /\s/.test(password)) problems.push('leave out spaces');
  if (isCommon(password)) problems.push('choose a password that is not on the list of commonly used passwords');
  const lower = password.toLowerCase();
  if (context.some((c) => c.length >= 4 && lower.includes(c.toLowerCase())))
    problems.push('do not use your name or e-mail address in the password');
  return problems;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2ID);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** A hash to verify against when the account does not exist, so timing does not tell. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword('decoy-password-that-matches-nothing-1A');
  return decoy;
}

export function passwordExpired(changedAt: Date | null, policy: PasswordPolicy, now = new Date()): boolean {
  if (policy.maxAgeDays <= 0 || !changedAt) return false;
  return now.getTime() - changedAt.getTime() > policy.maxAgeDays * 86_400_000;
}
