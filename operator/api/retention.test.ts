import { describe, expect, it } from 'vitest';
import { periodOf, planRetention, type BackupRecord, type Retention } from './retention.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Runs a schedule for `hours`, pruning after every backup, as the operator does; returns what is left. */
function simulate(opts: {
  start: string;
  hours: number;
  everyHours: number;
  retention: (at: Date) => Retention;
  timeZone?: string;
  skip?: (at: Date) => boolean;
  fail?: (at: Date) => boolean;
  /** Prune after every Nth backup (the prune job may run less often than backups). */
  pruneEvery?: number;
}): BackupRecord[] {
  let kept: BackupRecord[] = [];
  const t0 = new Date(opts.start).getTime();
  let n = 0;
  for (let h = 0; h < opts.hours; h += opts.everyHours) {
    const at = new Date(t0 + h * HOUR);
    if (opts.skip?.(at)) continue;
    kept.push({ name: at.toISOString(), completedAt: at, succeeded: !opts.fail?.(at) });
    if (++n % (opts.pruneEvery ?? 1) !== 0 && h + opts.everyHours < opts.hours) continue;
    const plan = planRetention(kept, opts.retention(at), opts.timeZone);
    kept = kept.filter((b) => !plan.prune.includes(b.name) && b.succeeded);
  }
  return kept;
}

const tiersOf = (backups: BackupRecord[], retention: Retention, timeZone?: string) => {
  const plan = planRetention(backups, retention, timeZone);
  const count: Record<string, number> = {};
  for (const reasons of plan.keep.values()) for (const r of reasons) count[r] = (count[r] ?? 0) + 1;
  return count;
};

describe('GFS retention', { timeout: 120_000 }, () => {
  const policy: Retention = { hourly: 24, daily: 30, weekly: 26, monthly: 12, yearly: 3 };

  it('keeps 24 hourly, 30 daily, 26 weekly, 12 monthly and the yearly ones over three years of hourly backups', () => {
    const kept = simulate({
      start: '2024-01-01T00:30:00Z',
      hours: 3 * 365 * 24,
      everyHours: 1,
      retention: () => policy,
    });
    expect(tiersOf(kept, policy)).toMatchObject({ hourly: 24, daily: 30, weekly: 26, monthly: 12, yearly: 3 });
    // Tiers overlap (the newest backup is hourly, daily, weekly, monthly and yearly at once).
    expect(kept.length).toBeLessThan(24 + 30 + 26 + 12 + 3);
    expect(kept.length).toBeGreaterThan(26 + 12);
    const newest = kept.at(-1)!.completedAt.getTime();
    const oldestDaily = [...planRetention(kept, policy).keep]
      .filter(([, r]) => r.includes('daily'))
      .map(([n]) => n)
      .sort()[0]!;
    expect((newest - new Date(oldestDaily).getTime()) / DAY).toBeCloseTo(29, 0);
  });

  it('a missed week does not shorten what is kept: the last N days that have a backup', () => {
    const kept = simulate({
      start: '2025-01-01T02:00:00Z',
      hours: 120 * 24,
      everyHours: 24,
      retention: () => ({ daily: 30 }),
      skip: (at) => at >= new Date('2025-04-20T00:00:00Z') && at < new Date('2025-04-27T00:00:00Z'),
    });
    expect(kept).toHaveLength(30);
    const span = (kept.at(-1)!.completedAt.getTime() - kept[0]!.completedAt.getTime()) / DAY;
    expect(span).toBe(29 + 7);
  });

  it('failed backups are never kept by a tier and never push a good one out', () => {
    const backups: BackupRecord[] = [
      { name: 'good-1', completedAt: new Date('2025-03-01T01:00:00Z'), succeeded: true },
      { name: 'good-2', completedAt: new Date('2025-03-02T01:00:00Z'), succeeded: true },
      { name: 'failed-3', completedAt: new Date('2025-03-03T01:00:00Z'), succeeded: false },
    ];
    const plan = planRetention(backups, { daily: 1 });
    expect([...plan.keep.keys()]).toEqual(['good-2']);
    expect(plan.keep.get('good-2')).toEqual(['daily', 'newest']);
    expect(plan.prune).toEqual(['good-1']);
  });

  it('never prunes the newest good backup nor the newest verified one, even with every count at zero', () => {
    const backups: BackupRecord[] = [
      { name: 'a', completedAt: new Date('2025-01-01T00:00:00Z'), succeeded: true, verified: true },
      { name: 'b', completedAt: new Date('2025-01-02T00:00:00Z'), succeeded: true },
      { name: 'c', completedAt: new Date('2025-01-03T00:00:00Z'), succeeded: true },
    ];
    const plan = planRetention(backups, {});
    expect(plan.keep).toEqual(
      new Map([
        ['c', ['newest']],
        ['a', ['newest-verified']],
      ]),
    );
    expect(plan.prune).toEqual(['b']);
  });

  it('never prunes a backup a Restore needs: a safety backup of the same day as newer ones', () => {
    // The day's scheduled backup, the one being restored, then the safety backup taken before the restore.
    const backups: BackupRecord[] = [
      { name: 'scheduled', completedAt: new Date('2026-11-30T04:00:00Z'), succeeded: true },
      { name: 'restored', completedAt: new Date('2026-11-30T09:00:00Z'), succeeded: true, pinned: true },
      { name: 'safety', completedAt: new Date('2026-11-30T10:00:00Z'), succeeded: true, pinned: true },
      { name: 'later', completedAt: new Date('2026-11-30T11:00:00Z'), succeeded: true },
    ];
    const plan = planRetention(backups, { daily: 7 });
    expect(plan.keep).toEqual(
      new Map([
        ['later', ['daily', 'newest']],
        ['restored', ['restore']],
        ['safety', ['restore']],
      ]),
    );
    expect(plan.prune).toEqual(['scheduled']);
  });

  it('counts days in the schedule time zone across both clock changes', () => {
    // Europe/Berlin: clocks go forward on 2025-03-30 and back on 2025-10-26.
    const kept = simulate({
      start: '2025-03-01T22:30:00Z', // 23:30 local, then 00:30 local after the March change
      hours: 300 * 24,
      everyHours: 1,
      timeZone: 'Europe/Berlin',
      pruneEvery: 24,
      retention: () => ({ daily: 400, hourly: 0 }),
    });
    const days = new Set(kept.map((b) => periodOf('daily', b.completedAt, 'Europe/Berlin')));
    expect(kept).toHaveLength(days.size);
    expect(days.size).toBe(300 + 1);
    // 02:30 local does not exist on 2025-03-30; that day is one hour short, and still one day.
    expect(periodOf('daily', new Date('2025-03-30T00:30:00Z'), 'Europe/Berlin')).toBe('2025-3-30');
    expect(periodOf('daily', new Date('2025-03-30T21:59:00Z'), 'Europe/Berlin')).toBe('2025-3-30');
    expect(periodOf('daily', new Date('2025-03-30T22:00:00Z'), 'Europe/Berlin')).toBe('2025-3-31');
  });

  it('counts the repeated hour when clocks go back as two hours', () => {
    // 2025-10-26 in Berlin: 02:00–03:00 local happens twice (00:00–01:00 and 01:00–02:00 UTC).
    const first = new Date('2025-10-26T00:30:00Z');
    const second = new Date('2025-10-26T01:30:00Z');
    expect(periodOf('hourly', first, 'Europe/Berlin')).not.toBe(periodOf('hourly', second, 'Europe/Berlin'));
    const plan = planRetention(
      [
        { name: 'first', completedAt: first, succeeded: true },
        { name: 'second', completedAt: second, succeeded: true },
      ],
      { hourly: 2 },
      'Europe/Berlin',
    );
    expect(plan.prune).toEqual([]);
  });

  it('uses ISO weeks: the week of 2026-01-01 is 2026-W1, and 2027-01-01 still belongs to 2026-W53', () => {
    expect(periodOf('weekly', new Date('2026-01-01T12:00:00Z'))).toBe('2026-W1');
    expect(periodOf('weekly', new Date('2025-12-29T12:00:00Z'))).toBe('2026-W1');
    expect(periodOf('weekly', new Date('2027-01-01T12:00:00Z'))).toBe('2026-W53');
    expect(periodOf('weekly', new Date('2027-01-04T12:00:00Z'))).toBe('2027-W1');
  });

  it('a retention reduced and raised again: pruned backups stay gone, and the tiers fill up again', () => {
    const cut = new Date('2025-06-01T00:00:00Z');
    const raised = new Date('2025-07-01T00:00:00Z');
    const retention = (at: Date): Retention => (at >= cut && at < raised ? { daily: 3 } : { daily: 30 });
    const run = (hours: number) => simulate({ start: '2025-04-01T03:00:00Z', hours, everyHours: 24, retention });
    expect(run((31 + 30) * 24)).toHaveLength(30); // up to 2025-05-31
    expect(run((31 + 30 + 10) * 24)).toHaveLength(3); // cut to 3 on 2025-06-01
    const tenDaysAfterRaise = run((31 + 30 + 30 + 10) * 24);
    expect(tenDaysAfterRaise).toHaveLength(3 + 10); // what was pruned does not come back
    expect(run((31 + 30 + 30 + 60) * 24)).toHaveLength(30);
  });
});
