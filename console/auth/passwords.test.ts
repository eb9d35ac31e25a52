import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  describePolicy,
  hashPassword,
  passwordExpired,
  passwordProblems,
  verifyPassword,
} from './passwords.js';

describe('password policy', () => {
  it.each([
    ['Sh0rt', 'use at least 8 characters'],
    ['no-digits-Here', 'include a digit'],
    ['lowercase-only-1', 'include an upper case letter'],
    ['UPPERCASE-ONLY-1', 'include a lower case letter'],
    ['Has Space 123', 'leave out spaces'],
    ['Password1', 'choose a password that is not on the list of commonly used passwords'],
  ])('refuses %j: %s', (password, problem) => {
    expect(passwordProblems(password)).toContain(problem);
  });

  it('accepts a password that meets every rule', () => {
    expect(passwordProblems('Tr4vel-by-Night')).toEqual([]);
  });

  it("refuses a password containing the person's name or e-mail", () => {
    expect(passwordProblems('Alice-2026-x', DEFAULT_POLICY, ['alice'])).toContain(
      'do not use your name or e-mail address in the password',
    );
  });

  it('follows a configured policy', () => {
    expect(
      passwordProblems('abcdefghijkl', { ...DEFAULT_POLICY, requireDigit: false, requireUpper: false, minLength: 12 }),
    ).toEqual([]);
  });

  it('says the rules of a policy in one sentence', () => {
    expect(describePolicy(DEFAULT_POLICY)).toBe(
      'At least 8 characters with a digit, an upper case letter and a lower case letter; no spaces; not a common password.',
    );
    expect(
      describePolicy({
        ...DEFAULT_POLICY,
        minLength: 14,
        requireUpper: false,
        requireLower: false,
        forbidSpaces: false,
      }),
    ).toBe('At least 14 characters with a digit; not a common password.');
  });

  it('expires a password after the maximum age, and never when ageing is off', () => {
    const now = new Date('2026-11-25T00:00:00Z');
    expect(passwordExpired(new Date('2025-11-24T00:00:00Z'), DEFAULT_POLICY, now)).toBe(true);
    expect(passwordExpired(new Date('2025-11-26T00:00:00Z'), DEFAULT_POLICY, now)).toBe(false);
    expect(passwordExpired(new Date('2000-01-01T00:00:00Z'), { ...DEFAULT_POLICY, maxAgeDays: 0 }, now)).toBe(false);
  });

  it('hashes with argon2id at the OWASP parameters, salted', async () => {
    const a = await hashPassword('Tr4vel-by-Night');
    const b = await hashPassword('Tr4vel-by-Night');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(a, 'Tr4vel-by-Night')).toBe(true);
    expect(await verifyPassword(a, 'Tr4vel-by-Day')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });
});
