import { describe, expect, it } from 'vitest';
import { planCa, type Authority } from './authority.js';

const day = 86_400_000;
const t0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const policy = { durationMs: 30 * day, overlapMs: day, permittedDns: ['svc', 'db'] };

type Pair = Authority['pairs'] extends Map<string, infer P> ? P : never;
function ca(serial: string, from: number, to: number, permitted: string[] | null = ['db', 'svc']): [string, Pair] {
  return [
    serial,
    {
      certPem: '',
      keyPem: '',
      info: {
        serial,
        subject: '',
        issuer: '',
        notBefore: at(from),
        notAfter: at(to),
        dnsNames: [],
        ...(permitted ? { dnsConstraints: { permitted, excluded: [] } } : {}),
      },
    },
  ];
}
function authority(state: Authority['state'], ...pairs: ReturnType<typeof ca>[]): Authority {
  return { external: false, state, pairs: new Map(pairs) };
}

describe('planCa', () => {
  it('creates a CA when there is none', () => {
    expect(planCa(undefined, { now: t0, forced: false, allBundled: false, policy })).toEqual({ action: 'create' });
  });
  it('waits until 2/3 of the lifetime, then starts a rotation', () => {
    const a = authority({ current: 'a', retired: [] }, ca('a', 0, 30 * day));
    expect(planCa(a, { now: at(10 * day), forced: false, allBundled: false, policy })).toEqual({
      action: 'none',
      wakeAt: at(20 * day),
    });
    expect(planCa(a, { now: at(20 * day), forced: false, allBundled: false, policy }).action).toBe('createNext');
    expect(planCa(a, { now: at(1 * day), forced: true, allBundled: false, policy }).action).toBe('createNext');
  });
  it('rotates a CA whose name constraints are not the policy (none yet, or the allowed domains changed)', () => {
    for (const permitted of [null, ['svc']]) {
      const a = authority({ current: 'a', retired: [] }, ca('a', 0, 30 * day, permitted));
      const step = planCa(a, { now: at(1 * day), forced: false, allBundled: false, policy });
      expect(step.action).toBe('createNext');
      expect(step.action === 'createNext' && step.reason).toContain('name constraints');
    }
    const external = { ...authority({ current: 'a', retired: [] }, ca('a', 0, 30 * day, null)), external: true };
    expect(planCa(external, { now: at(1 * day), forced: false, allBundled: false, policy }).action).toBe('none');
  });
  it('moves leaves to the next CA only after every bundle carries it, and after the overlap', () => {
    const next = authority({ current: 'a', next: 'b', retired: [] }, ca('a', 0, 30 * day), ca('b', 20 * day, 50 * day));
    expect(planCa(next, { now: at(20 * day), forced: false, allBundled: false, policy }).action).toBe('none');
    expect(planCa(next, { now: at(20 * day), forced: false, allBundled: true, policy }).action).toBe('markBundled');
    const bundled = authority(
      { ...next.state, nextBundledAt: at(21 * day).toISOString() },
      ca('a', 0, 30 * day),
      ca('b', 20 * day, 50 * day),
    );
    expect(planCa(bundled, { now: at(21.5 * day), forced: false, allBundled: true, policy })).toEqual({
      action: 'none',
      wakeAt: at(22 * day),
    });
    expect(planCa(bundled, { now: at(22 * day), forced: false, allBundled: true, policy }).action).toBe('promote');
  });
  it('promotes before the current CA expires even if the overlap is longer', () => {
    const bundled = authority(
      { current: 'a', next: 'b', nextBundledAt: at(29.9 * day).toISOString(), retired: [] },
      ca('a', 0, 30 * day),
      ca('b', 20 * day, 50 * day),
    );
    expect(planCa(bundled, { now: at(30 * day - 500), forced: false, allBundled: true, policy }).action).toBe(
      'promote',
    );
  });
  it('drops a retired CA once it has expired', () => {
    const a = authority({ current: 'b', retired: ['a'] }, ca('a', 0, 30 * day), ca('b', 20 * day, 50 * day));
    expect(planCa(a, { now: at(29 * day), forced: false, allBundled: true, policy })).toEqual({
      action: 'none',
      wakeAt: at(30 * day),
    });
    expect(planCa(a, { now: at(30 * day), forced: false, allBundled: true, policy })).toEqual({
      action: 'dropRetired',
      serials: ['a'],
    });
  });
  it("never rotates a customer's own CA", () => {
    const a: Authority = { ...authority({ current: 'x', retired: [] }, ca('x', 0, 30 * day)), external: true };
    expect(planCa(a, { now: at(29 * day), forced: true, allBundled: true, policy })).toEqual({ action: 'none' });
  });
});
