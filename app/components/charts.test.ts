import { describe, expect, it } from 'vitest';
import { axisTop, recoveryPoints } from './charts';

const HOUR = 3_600_000;

describe('axisTop', () => {
  it('tops a value axis with a round number whose half is round too', () => {
    expect([0.2, 1, 1.1, 2.5, 26, 29, 44, 53, 120, 999].map((v) => axisTop(v))).toEqual([
      1, 1, 2, 5, 50, 50, 50, 100, 200, 1000,
    ]);
  });

  it('counts bytes in powers of 1024: a 1.22 KiB backup gets an axis of 2 KiB, 50 MiB ones 50 MiB', () => {
    expect(axisTop(1249, 1024)).toBe(2 * 1024);
    expect(axisTop(50 * 1024 ** 2, 1024)).toBe(50 * 1024 ** 2);
    expect(axisTop(51 * 1024 ** 2, 1024)).toBe(100 * 1024 ** 2);
    expect(axisTop(600 * 1024 ** 2, 1024)).toBe(1024 ** 3);
  });
});

describe('recoveryPoints', () => {
  it('rises between backups and drops to zero at each', () => {
    const points = recoveryPoints([2 * HOUR, 5 * HOUR], 0, 6 * HOUR);
    expect(points.map((p) => [p.at / HOUR, p.value])).toEqual([
      [2, 0],
      [3, 1],
      [4, 2],
      [5, 0],
      [6, 1],
    ]);
  });
});
