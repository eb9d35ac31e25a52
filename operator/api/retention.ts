// Grandfather-father-son retention: which backups to keep, and why.
//
// Each tier keeps the newest good backup of each of its last N periods that
// have one (as restic's and borg's `--keep-daily N` do), so a missed week
// does not shorten what is kept. A backup is kept if any tier keeps it. Two
// more rules make pruning safe whatever the counts: the newest good backup is
// always kept, and so is the newest verified one (the last backup a restore
// drill has proven). And a backup a Restore needs is never pruned: the one it
// restores while it runs, and the safety backup of what it replaced for as
// long as the Restore exists.
//
// Hours are counted in UTC, so the repeated hour when clocks go back is two
// hours, not one. Days, weeks, months and years are the calendar's in the
// schedule's time zone, which is what a person means by "kept 30 days".

export const TIERS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type Tier = (typeof TIERS)[number];
export type Retention = Partial<Record<Tier, number>>;

export interface BackupRecord {
  name: string;
  /** When the backup's snapshot was taken. */
  completedAt: Date;
  /** Only succeeded backups count; failed or running ones are never kept by a tier. */
  succeeded: boolean;
  verified?: boolean;
  /** Named by a Restore: kept whatever the tiers say. */
  pinned?: boolean;
}

export type KeepReason = Tier | 'newest' | 'newest-verified' | 'restore';

export interface RetentionPlan {
  /** Each kept backup with every reason it is kept. */
  keep: Map<string, KeepReason[]>;
  /** Succeeded backups no rule keeps, oldest first. */
  prune: string[];
}

const formats = new Map<string, Intl.DateTimeFormat>();
/** Calendar dates already worked out: formatting in a time zone is the planner's only slow step. */
const dates = new Map<string, { year: number; month: number; day: number }>();

/** The calendar date of an instant in a time zone. */
function calendar(at: Date, timeZone: string): { year: number; month: number; day: number } {
  const key = `${timeZone} ${at.getTime()}`;
  const known = dates.get(key);
  if (known) return known;
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formats.set(timeZone, format);
  }
  const parts = format.formatToParts(at);
  const value = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const date = { year: value('year'), month: value('month'), day: value('day') };
  if (dates.size >= 100_000) dates.clear();
  dates.set(key, date);
  return date;
}

/** ISO 8601 week of a calendar date: weeks start on Monday, week 1 holds the year's first Thursday. */
function isoWeek(year: number, month: number, day: number): string {
  const thursday = new Date(Date.UTC(year, month - 1, day));
  thursday.setUTCDate(thursday.getUTCDate() + 4 - (thursday.getUTCDay() || 7));
  const weekYear = thursday.getUTCFullYear();
  const week = Math.ceil(((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${week}`;
}

/** The period of `tier` an instant falls in, as a key equal for instants of the same period. */
export function periodOf(tier: Tier, at: Date, timeZone = 'UTC'): string {
  if (tier === 'hourly') return String(Math.floor(at.getTime() / 3_600_000));
  const { year, month, day } = calendar(at, timeZone);
  switch (tier) {
    case 'daily':
      return `${year}-${month}-${day}`;
    case 'weekly':
      return isoWeek(year, month, day);
    case 'monthly':
      return `${year}-${month}`;
    case 'yearly':
      return String(year);
  }
}

export function planRetention(backups: readonly BackupRecord[], retention: Retention, timeZone = 'UTC'): RetentionPlan {
  const good = backups.filter((b) => b.succeeded).sort((a, b) => b.completedAt.getTime() - a.completedAt.getTime());
  const keep = new Map<string, KeepReason[]>();
  const mark = (name: string, reason: KeepReason) => keep.set(name, [...(keep.get(name) ?? []), reason]);

  for (const tier of TIERS) {
    const count = retention[tier] ?? 0;
    const seen = new Set<string>();
    for (const b of good) {
      if (seen.size >= count) break;
      const period = periodOf(tier, b.completedAt, timeZone);
      if (seen.has(period)) continue;
      seen.add(period);
      mark(b.name, tier);
    }
  }
  if (good[0]) mark(good[0].name, 'newest');
  const verified = good.find((b) => b.verified);
  if (verified) mark(verified.name, 'newest-verified');
  for (const b of good) if (b.pinned) mark(b.name, 'restore');

  const prune = good
    .filter((b) => !keep.has(b.name))
    .reverse()
    .map((b) => b.name);
  return { keep, prune };
}
