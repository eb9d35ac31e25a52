import { describe, expect, it } from 'vitest';
import type { Tenant } from '../db/schema.js';
import { DEFAULT_LOCKOUT, lockDuration, mappedRole } from './sign-in.js';

describe('lockout', () => {
  it('locks from the fifth failure for a minute, doubling up to a day', () => {
    expect([1, 4, 5, 6, 7, 10].map((n) => lockDuration(n, DEFAULT_LOCKOUT) / 60_000)).toEqual([0, 0, 1, 2, 4, 32]);
    expect(lockDuration(40, DEFAULT_LOCKOUT)).toBe(24 * 3_600_000);
  });
});

describe('SSO role mapping', () => {
  const tenant = {
    roleMapping: [
      { group: 'ops', role: 'tenant-admin' },
      { group: 'audit', role: 'auditor' },
    ],
  } as Tenant;

  it('gives the strongest role any group maps to', () => {
    expect(mappedRole(tenant, ['audit', 'ops'])).toBe('tenant-admin');
    expect(mappedRole(tenant, ['audit'])).toBe('auditor');
  });

  it('gives no role when no group maps, and never platform admin', () => {
    expect(mappedRole(tenant, ['staff'])).toBeUndefined();
    expect(mappedRole({ roleMapping: [{ group: 'ops', role: 'platform-admin' }] } as Tenant, ['ops'])).toBeUndefined();
  });
});
