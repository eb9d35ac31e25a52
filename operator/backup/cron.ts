// When a CronJob schedule (the 5-field syntax spec.backup.schedule accepts,
// in UTC) runs next: for status.backup.nextScheduleTime. Day of month and day
// of week combine as cron has them: when both are restricted, either matches.

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

interface Field {
  values: Set<number>;
  /** The field is `*` (or `*` with a step): cron's "unrestricted" for the day rule. */
  any: boolean;
}

function field(text: string, min: number, max: number): Field {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText ? Number(stepText) : 1;
    const [lo, upper] = range === '*' ? [min, max] : (range.split('-').map(Number) as [number, number?]);
    const hi = upper ?? (stepText ? max : lo);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, any: text.startsWith('*') };
}

/** The first minute after `after` the schedule runs, or undefined when none within five years. */
export function nextRun(schedule: string, after: Date): Date | undefined {
  const parts = (MACROS[schedule] ?? schedule).trim().split(/\s+/);
  if (parts.length !== 5) return undefined;
  const [minute, hour, dom, month, dowRaw] = [
    field(parts[0]!, 0, 59),
    field(parts[1]!, 0, 23),
    field(parts[2]!, 1, 31),
    field(parts[3]!, 1, 12),
    field(parts[4]!, 0, 7),
  ];
  // 7 is Sunday too.
  const dow = new Set([...dowRaw.values].map((d) => d % 7));
  const minutes = [...minute.values].sort((a, b) => a - b);
  const hours = [...hour.values].sort((a, b) => a - b);
  const start = new Date(after.getTime());
  start.setUTCSeconds(0, 0);
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  for (let i = 0; i < 5 * 366; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!month.values.has(day.getUTCMonth() + 1)) continue;
    const domOk = dom.values.has(day.getUTCDate());
    const dowOk = dow.has(day.getUTCDay());
    const dayOk = dom.any && dowRaw.any ? true : dom.any ? dowOk : dowRaw.any ? domOk : domOk || dowOk;
    if (!dayOk) continue;
    for (const h of hours)
      for (const m of minutes) {
        const at = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), h, m);
        if (at > after.getTime()) return new Date(at);
      }
  }
  return undefined;
}
