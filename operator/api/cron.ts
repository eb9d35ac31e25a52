// When a CronJob schedule (the 5-field syntax spec.backup.schedule accepts,
// in UTC) runs next: for status.backup.nextScheduleTime. Day of month and day
// of week combine as the CronJob controller's parser has them: when both are
// restricted (a step above 1 restricts), either matches.

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
  /** `*` (or `*\/1`): "unrestricted" for the day rule. A step above 1 restricts, as in the CronJob controller. */
  star: boolean;
}

function field(text: string, min: number, max: number): Field | undefined {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText ? Number(stepText) : 1;
    if (!(step > 0)) return undefined;
    const [lo, upper] = range === '*' ? [min, max] : (range.split('-').map(Number) as [number, number?]);
    const hi = upper ?? (stepText ? max : lo);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, star: text === '*' || text === '*/1' };
}

interface Parsed {
  minutes: number[];
  hours: number[];
  dom: Field;
  month: Field;
  dow: Field;
}

// A retention preview asks for thousands of runs of one schedule: parse it once.
const parsed = new Map<string, Parsed | undefined>();

function parse(schedule: string): Parsed | undefined {
  if (parsed.has(schedule)) return parsed.get(schedule);
  const parts = (MACROS[schedule] ?? schedule).trim().split(/\s+/);
  let result: Parsed | undefined;
  if (parts.length === 5) {
    const [minute, hour, dom, month, dow] = [
      field(parts[0]!, 0, 59),
      field(parts[1]!, 0, 23),
      field(parts[2]!, 1, 31),
      field(parts[3]!, 1, 12),
      field(parts[4]!, 0, 6),
    ];
    if (minute && hour && dom && month && dow)
      result = {
        minutes: [...minute.values].sort((a, b) => a - b),
        hours: [...hour.values].sort((a, b) => a - b),
        dom,
        month,
        dow,
      };
  }
  if (parsed.size >= 256) parsed.clear();
  parsed.set(schedule, result);
  return result;
}

/** The first minute after `after` the schedule runs, or undefined when none within five years. */
export function nextRun(schedule: string, after: Date): Date | undefined {
  const p = parse(schedule);
  if (!p) return undefined;
  const { minutes, hours, dom, month, dow } = p;
  const start = new Date(after.getTime());
  start.setUTCSeconds(0, 0);
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  for (let i = 0; i < 5 * 366; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!month.values.has(day.getUTCMonth() + 1)) continue;
    const domOk = dom.values.has(day.getUTCDate());
    const dowOk = dow.values.has(day.getUTCDay());
    const dayOk = dom.star || dow.star ? domOk && dowOk : domOk || dowOk;
    if (!dayOk) continue;
    for (const h of hours)
      for (const m of minutes) {
        const at = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), h, m);
        if (at > after.getTime()) return new Date(at);
      }
  }
  return undefined;
}

// A five-field cron expression with ranges per field, or a macro.
const cronField = (n: string): string => `(\\*|${n}(-${n})?)(/[1-9][0-9]*)?`;
const cronList = (n: string): string => `${cronField(n)}(,${cronField(n)})*`;
export const CRON = new RegExp(
  '^(@(hourly|daily|midnight|weekly|monthly|yearly|annually)|' +
    [
      cronList('([0-5]?[0-9])'),
      cronList('([01]?[0-9]|2[0-3])'),
      cronList('([1-9]|[12][0-9]|3[01])'),
      cronList('([1-9]|1[0-2])'),
      // 0-6, Sunday 0: the CronJob controller's parser refuses 7.
      cronList('[0-6]'),
    ].join(' ') +
    ')$',
);
