import { describe, expect, it } from 'vitest';
import { uniqueName } from '../harness/names.js';

describe('uniqueName', () => {
  it('makes DNS-1123 labels from any prefix', () => {
    for (const prefix of ['Job', 'a_b.c', '--x--', '', 'x'.repeat(80)]) {
      const name = uniqueName(prefix);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(name.length).toBeLessThanOrEqual(63);
    }
  });
  it('never repeats within a run', () => {
    const names = new Set(Array.from({ length: 1000 }, () => uniqueName('t')));
    expect(names.size).toBe(1000);
  });
});
