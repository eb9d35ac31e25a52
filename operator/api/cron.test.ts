import { describe, expect, it } from 'vitest';
import { nextRun } from './cron.js';

const at = (iso: string) => new Date(iso);
const next = (schedule: string, after: string) => nextRun(schedule, at(after))?.toISOString();

describe('nextRun', () => {
  it('finds the next daily run, today or tomorrow', () => {
    expect(next('0 4 * * *', '2026-11-30T03:59:30Z')).toBe('2026-11-30T04:00:00.000Z');
    expect(next('0 4 * * *', '2026-11-30T04:00:00Z')).toBe('2026-12-01T04:00:00.000Z');
    expect(next('@daily', '2026-12-31T23:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
  });

  it('reads lists, ranges and steps', () => {
    expect(next('*/15 * * * *', '2026-11-30T10:16:00Z')).toBe('2026-11-30T10:30:00.000Z');
    expect(next('5 8-18/2 * * 1-5', '2026-11-27T19:00:00Z')).toBe('2026-11-30T08:05:00.000Z'); // Friday night → Monday
    expect(next('0 0 1,15 * *', '2026-11-02T00:00:00Z')).toBe('2026-11-15T00:00:00.000Z');
  });

  it('runs on either day when both day of month and day of week are given, as cron does', () => {
    // The 13th, or any Friday: Friday 4 December 2026 comes first.
    expect(next('0 12 13 * 5', '2026-12-01T00:00:00Z')).toBe('2026-12-04T12:00:00.000Z');
    expect(next('0 5 * * 0', '2026-11-30T00:00:00Z')).toBe('2026-12-06T05:00:00.000Z');
    // A step restricts: every other day of the month, or Mondays.
    expect(next('0 0 */2 * *', '2026-11-01T12:00:00Z')).toBe('2026-11-03T00:00:00.000Z');
    expect(next('0 0 */2 * 1', '2026-11-01T12:00:00Z')).toBe('2026-11-02T00:00:00.000Z');
    expect(next('0 0 */2 * 1', '2026-11-02T12:00:00Z')).toBe('2026-11-03T00:00:00.000Z');
  });

  it('has no next run for a step of 0', () => {
    expect(next('*/0 * * * *', '2026-11-01T00:00:00Z')).toBeUndefined();
  });

  it('skips months without the day, and finds 29 February', () => {
    expect(next('0 0 31 * *', '2026-11-01T00:00:00Z')).toBe('2026-12-31T00:00:00.000Z');
    expect(next('0 0 29 2 *', '2026-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });
});
