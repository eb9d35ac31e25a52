import { describe, expect, it } from 'vitest';
import { APPLIED_HASH, isSubset, upToDate, withHash } from './apply.js';
import type { KubeObject } from './rest.js';

const desired: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'x', namespace: 'n', labels: { a: '1' } },
  data: { k: 'v' },
};

describe('isSubset', () => {
  it('ignores fields the server adds', () => {
    expect(isSubset({ a: { b: 1 } }, { a: { b: 1, c: 2 }, d: 3 })).toBe(true);
  });
  it('sees a changed or missing value', () => {
    expect(isSubset({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(isSubset({ a: { b: 1 } }, { a: {} })).toBe(false);
  });
  it('compares lists element by element and by length', () => {
    expect(isSubset([{ a: 1 }], [{ a: 1, b: 2 }])).toBe(true);
    expect(isSubset([{ a: 1 }], [{ a: 1 }, { a: 2 }])).toBe(false);
  });
});

describe('upToDate', () => {
  const live = (over: Partial<KubeObject> = {}): KubeObject => ({ ...withHash(desired), ...over });
  it('is true for the object as applied, with server fields', () => {
    const l = live();
    l.metadata = { ...l.metadata, uid: 'u', resourceVersion: '5' };
    expect(upToDate(desired, l)).toBe(true);
  });
  it('is false when someone changed a desired field', () => {
    expect(upToDate(desired, live({ data: { k: 'other' } }))).toBe(false);
  });
  it('is false when the desired state dropped a field (the hash differs)', () => {
    const { labels: _labels, ...meta } = desired.metadata;
    expect(upToDate({ ...desired, metadata: meta }, live())).toBe(false);
  });
  it('is false when nothing exists yet or the object is being deleted', () => {
    expect(upToDate(desired, undefined)).toBe(false);
    const l = live();
    l.metadata = { ...l.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' };
    expect(upToDate(desired, l)).toBe(false);
  });
  it('stamps a stable hash', () => {
    expect(withHash(desired).metadata.annotations?.[APPLIED_HASH]).toBe(
      withHash(structuredClone(desired)).metadata.annotations?.[APPLIED_HASH],
    );
  });
});
