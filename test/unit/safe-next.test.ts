import { describe, expect, it } from 'vitest';
import { safeNext } from '../../app/session.server.js';

describe('where to go after signing in', () => {
  it.each([
    ['/tenants/acme?tab=people', '/tenants/acme?tab=people'],
    ['/', '/'],
    ['//evil.example/x', '/'],
    ['/\\evil.example/x', '/'],
    ['/\t/evil.example/x', '/'],
    ['/\n/evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['', '/'],
  ])('%j → %j', (next, expected) => {
    expect(safeNext(next)).toBe(expected);
  });
});
