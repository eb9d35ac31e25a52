// What a retention setting keeps once it has run long enough: the backups
// the schedule takes, pruned by the operator's own planner, counted. The
// console shows it before a change is saved.
import { CRON, nextRun } from '../../operator/api/cron.js';
import { TIERS, periodOf, planRetention, type BackupRecord, type Retention } from '../../operator/api/retention.js';

const DAY = 86_400_000;

export interface RetentionPreview {
  /** Backups kept in the steady state. */
  kept: number;
  /** Kept per tier (a backup may count for several). */
  byTier: Record<(typeof TIERS)[number], number>;
  /** The oldest kept backup's age in days. */
  oldestDays: number;
  /** kept × size, when a size is known. */
  bytes?: number;
}

const utc = (y: number, m: number, d = 1) => new Date(Date.UTC(y, m, d));

/**
 * The backups `schedule` would have taken by `now`, as the planner needs
 * them: every run in the hourly tier's window, and further back only the
 * last run of each day, then of each month, then of each year. Coarser
 * tiers keep the newest backup of each period, so the plan is the same as
 * with every run, at a few thousand runs instead of a hundred thousand.
 * (A cron schedule runs at the same times on every day it runs at all, so
 * a day's last run is its last time of day.)
 */
function simulate(schedule: string, retention: Retention, now: Date): BackupRecord[] {
  const runs: BackupRecord[] = [];
  const add = (at: number) => runs.push({ name: String(runs.length), completedAt: new Date(at), succeeded: true });
  const tier = (t: (typeof TIERS)[number]) => retention[t] ?? 0;
  const startOfDay = (t: number) => t - (t % DAY);
  const runsOn = (day: number) => {
    const at = nextRun(schedule, new Date(day - 60_000));
    return at !== undefined && at.getTime() < day + DAY;
  };
  // The last time of day it runs, from the first day it runs.
  const firstRun = nextRun(schedule, new Date(now.getTime() - 6 * 366 * DAY))!;
  const day0 = startOfDay(firstRun.getTime());
  let lastTime = firstRun.getTime() - day0;
  let perDay = 1;
  for (let at = nextRun(schedule, firstRun); at && at.getTime() < day0 + DAY; at = nextRun(schedule, at)) {
    lastTime = at.getTime() - day0;
    perDay++;
  }
  /** The last run in [from, to), days whole and before today. */
  const last = (from: number, to: number): number | undefined => {
    for (let day = to - DAY; day >= from; day -= DAY)
      if (runsOn(day)) {
        add(day + lastTime);
        return day + lastTime;
      }
    return undefined;
  };
  // Every run from the start of the day the hourly tier reaches into: its
  // periods are hours that have a backup, so it reaches back `hourly` runs.
  let allFrom = startOfDay(now.getTime());
  let runsSince = 0;
  for (let at = nextRun(schedule, new Date(allFrom - 60_000)); at && at <= now; at = nextRun(schedule, at)) runsSince++;
  for (
    let i = 0;
    i < 6 * 366 && (runsSince <= tier('hourly') || allFrom > now.getTime() - (tier('hourly') + 1) * 3_600_000);
    i++
  ) {
    allFrom -= DAY;
    if (runsOn(allFrom)) runsSince += perDay;
  }
  for (let at = nextRun(schedule, new Date(allFrom - 60_000)); at && at <= now; at = nextRun(schedule, at))
    add(at.getTime());
  // Further back, one run a day until the daily and weekly tiers have all
  // their periods, then one a month until the monthly tier has, then one a
  // year: each tier is filled where runs are sampled at least as finely as
  // its own periods.
  const seen = { daily: new Set<string>(), weekly: new Set<string>(), monthly: new Set<string>() };
  const note = (at: number) => {
    for (const t of ['daily', 'weekly', 'monthly'] as const) seen[t].add(periodOf(t, new Date(at)));
  };
  for (const r of runs) note(r.completedAt.getTime());
  const limit = now.getTime() - 6 * 366 * DAY;
  const monthOf = (t: number, delta = 0) =>
    utc(new Date(t).getUTCFullYear(), new Date(t).getUTCMonth() + delta).getTime();
  let day = allFrom - DAY;
  for (; day >= limit; day -= DAY) {
    // Stop once filled, where a month begins: the months before are sampled whole.
    if (seen.daily.size > tier('daily') && seen.weekly.size > tier('weekly') && day + DAY === monthOf(day + DAY)) break;
    const at = last(day, day + DAY);
    if (at !== undefined) note(at);
  }
  let month = monthOf(day);
  for (; month >= limit; month = monthOf(month, -1)) {
    if (seen.monthly.size > tier('monthly') && new Date(month).getUTCMonth() === 11) break;
    const at = last(month, monthOf(month, 1));
    if (at !== undefined) note(at);
  }
  let years = 0;
  for (
    let y = new Date(month).getUTCFullYear();
    years <= tier('yearly') && y >= new Date(limit).getUTCFullYear() - 100;
    y--
  )
    if (last(utc(y, 0).getTime(), utc(y + 1, 0).getTime()) !== undefined) years++;
  return runs;
}

/** What `retention` keeps of the backups `schedule` takes, once every tier has filled. */
export function previewRetention(
  schedule: string,
  retention: Retention,
  opts: { now?: Date; backupBytes?: number } = {},
): RetentionPreview | undefined {
  const now = opts.now ?? new Date();
  // What the apiserver would refuse is not simulated (nor is half-typed text).
  if (!CRON.test(schedule.trim()) || !nextRun(schedule, now)) return undefined;
  const runs = simulate(schedule, retention, now);
  const plan = planRetention(runs, retention);
  const byTier = Object.fromEntries(TIERS.map((t) => [t, 0])) as RetentionPreview['byTier'];
  let oldest = now.getTime();
  for (const [name, reasons] of plan.keep) {
    for (const r of reasons) if (r in byTier) byTier[r as keyof typeof byTier]++;
    oldest = Math.min(oldest, runs[Number(name)]!.completedAt.getTime());
  }
  return {
    kept: plan.keep.size,
    byTier,
    oldestDays: Math.round((now.getTime() - oldest) / DAY),
    ...(opts.backupBytes !== undefined ? { bytes: plan.keep.size * opts.backupBytes } : {}),
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/** "keeps 30 daily, 26 weekly, 12 monthly: 66 backups, the oldest 365 days old; about 6.4 GiB at 100 MiB each" */
export function describePreview(p: RetentionPreview, backupBytes?: number): string {
  const tiers = TIERS.filter((t) => p.byTier[t] > 0)
    .map((t) => `${p.byTier[t]} ${t}`)
    .join(', ');
  const size =
    p.bytes !== undefined && backupBytes !== undefined
      ? `; about ${formatBytes(p.bytes)} at today's backup size (${formatBytes(backupBytes)})`
      : '';
  return `keeps ${tiers || 'nothing'}: ${p.kept} backups, the oldest ${p.oldestDays} days old${size}`;
}

const HOUR = 3_600_000;
const summaries = new Map<string, string>();

/**
 * The preview in words, as of the start of `now`'s hour: the same answer
 * for every view of a page within the hour (and on the server and in the
 * browser), worked out once.
 */
export function retentionSummary(
  schedule: string,
  retention: Retention,
  backupBytes: number | undefined,
  now: number,
): string {
  const hour = Math.floor(now / HOUR) * HOUR;
  const key = JSON.stringify([schedule, retention, backupBytes ?? null, hour]);
  let summary = summaries.get(key);
  if (summary === undefined) {
    const p = previewRetention(schedule, retention, {
      now: new Date(hour),
      ...(backupBytes !== undefined ? { backupBytes } : {}),
    });
    summary = p ? describePreview(p, backupBytes) : 'the schedule never runs: nothing would be kept';
    if (summaries.size >= 500) summaries.clear();
    summaries.set(key, summary);
  }
  return summary;
}
