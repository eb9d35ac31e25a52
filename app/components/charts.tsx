// Pictures of a tenant's backups, drawn as SVG on the server (and again in
// the browser when a preview changes): no chart library, a few kilobytes.
import type { BackupRow } from '../../console/tenants/backup-rows';

const ROWS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly', 'other'] as const;
const ROW_LABEL: Record<(typeof ROWS)[number], string> = {
  hourly: 'Hourly',
  daily: 'Daily',
  weekly: 'Weekly',
  monthly: 'Monthly',
  yearly: 'Yearly',
  other: 'Other',
};
const HOUR = 3_600_000;
const COLOURS = { passed: '#1e7e34', failed: '#a3222b', never: '#6b7785' } as const;

const W = 900;
const LEFT = 70;
const RIGHT = 16;
const ROW_H = 22;
const TOP = 8;

function ageScale(maxAgeHours: number) {
  const span = Math.log1p(Math.max(maxAgeHours, 48));
  return (ageHours: number) => W - RIGHT - ((W - LEFT - RIGHT) * Math.log1p(Math.max(ageHours, 0))) / span;
}

const TICKS: [number, string][] = [
  [0, 'now'],
  [1, '1 h'],
  [24, '1 d'],
  [24 * 7, '1 w'],
  [24 * 30, '30 d'],
  [24 * 182, '6 mo'],
  [24 * 365, '1 y'],
  [24 * 365 * 3, '3 y'],
  [24 * 365 * 10, '10 y'],
];

/**
 * Every kept backup on a time axis (logarithmic: the last hours and the last
 * years both fit), one row per tier that keeps it, coloured by what the
 * last restore drill found. With `preview`, what a retention change would
 * keep: backups it would prune are ringed in red.
 */
export function BackupTimeline(props: {
  backups: readonly BackupRow[];
  now: number;
  /** Kept-for reasons under a retention not yet saved, by backup name. */
  preview?: ReadonlyMap<string, BackupRow['keptFor']> | undefined;
}) {
  const good = props.backups.filter((b) => b.phase === 'Succeeded' && b.completedAt);
  const age = (b: BackupRow) => (props.now - Date.parse(b.completedAt!)) / HOUR;
  const oldest = good.reduce((m, b) => Math.max(m, age(b)), 0);
  const x = ageScale(oldest * 1.05);
  const rowOf = (reason: string) => ROWS.indexOf(ROWS.includes(reason as never) ? (reason as never) : 'other');
  const height = TOP + ROWS.length * ROW_H + 24;
  const pruned = props.preview ? good.filter((b) => b.keptFor.length > 0 && !props.preview!.get(b.name)?.length) : [];
  const label =
    `${good.length} backups, ${good.filter((b) => b.keptFor.length > 0).length} kept by retention` +
    (props.preview ? `; the change would prune ${pruned.length}` : '');
  return (
    <figure className="chart timeline">
      <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-label={`Backup timeline: ${label}`}>
        {ROWS.map((r, i) => (
          <g key={r}>
            <line
              x1={LEFT}
              x2={W - RIGHT}
              y1={TOP + i * ROW_H + ROW_H / 2}
              y2={TOP + i * ROW_H + ROW_H / 2}
              className="grid"
            />
            <text x={4} y={TOP + i * ROW_H + ROW_H / 2 + 4} className="axis">
              {ROW_LABEL[r]}
            </text>
          </g>
        ))}
        {TICKS.filter(([h]) => h <= Math.max(oldest * 1.05, 48)).map(([h, text]) => (
          <g key={text}>
            <line x1={x(h)} x2={x(h)} y1={TOP} y2={TOP + ROWS.length * ROW_H} className="tick" />
            <text x={x(h)} y={height - 6} textAnchor="middle" className="axis">
              {text}
            </text>
          </g>
        ))}
        {good.flatMap((b) => {
          const reasons = b.keptFor.length ? b.keptFor : ['other'];
          const rows = [...new Set(reasons.map(rowOf))];
          const kept = b.keptFor.length > 0;
          const goes = pruned.includes(b);
          return rows.map((row) => (
            <circle
              key={`${b.name}-${row}`}
              cx={x(age(b))}
              cy={TOP + row * ROW_H + ROW_H / 2}
              r={kept ? 5 : 4}
              fill={kept ? COLOURS[b.verified] : 'none'}
              stroke={goes ? '#d93025' : COLOURS[b.verified]}
              strokeWidth={goes ? 3 : 1.5}
              data-backup={b.name}
              data-prune={goes ? 'true' : undefined}
            >
              <title>
                {`${b.name}, ${b.completedAt}: ${kept ? `kept for ${b.keptFor.join(', ')}` : 'pruned at the next backup'}; drill ${b.verified}${goes ? '; the new retention would prune it' : ''}`}
              </title>
            </circle>
          ));
        })}
      </svg>
      <figcaption className="legend">
        <span>
          <i className="passed" /> drill passed
        </span>
        <span>
          <i className="never" /> not drilled yet
        </span>
        <span>
          <i className="failed" /> drill failed
        </span>
        <span>
          <i className="hollow" /> pruned at the next backup
        </span>
        {props.preview ? (
          <span>
            <i className="ring" /> the change would prune it ({pruned.length})
          </span>
        ) : null}
      </figcaption>
    </figure>
  );
}

interface Point {
  at: number;
  value: number;
  /** A bar's colour: a drill that passed or failed. */
  tone?: 'passed' | 'failed';
  /** Said on hover, after the time and value. */
  note?: string;
}

/**
 * The top of a value axis: the smallest of 1, 2, 5, 10, 20, 50 … times a
 * power of `base` that holds v, so that its half is a round label too.
 */
export function axisTop(v: number, base = 10): number {
  let unit = 1;
  while (unit * base <= v) unit *= base;
  return ([1, 2, 5, 10, 20, 50, 100, 200, 500].find((m) => m * unit >= v) ?? base) * unit;
}

/** A small line or bar chart of one series over time, with its axis in the series' unit. */
export function SeriesChart(props: {
  title: string;
  points: readonly Point[];
  unit: (v: number) => string;
  from: number;
  to: number;
  bars?: boolean;
  /** A horizontal line: a goal such as the RPO. */
  goal?: { value: number; label: string };
  /** 1024 for bytes, so the axis reads 1 KiB, 2 KiB rather than 1000 B, 2.0 KiB. */
  base?: number;
}) {
  const H = 140;
  const top = 10;
  const bottom = 22;
  const max = axisTop(Math.max(...props.points.map((p) => p.value), props.goal?.value ?? 0, 1), props.base);
  const x = (t: number) => LEFT + ((W - LEFT - RIGHT) * (t - props.from)) / Math.max(props.to - props.from, 1);
  const y = (v: number) => top + (H - top - bottom) * (1 - v / max);
  const days = Math.round((props.to - props.from) / (24 * HOUR));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => props.from + f * (props.to - props.from));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title} over the last ${days} days`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={LEFT} x2={W - RIGHT} y1={y(max * f)} y2={y(max * f)} className="grid" />
            <text x={LEFT - 6} y={y(max * f) + 4} textAnchor="end" className="axis">
              {props.unit(max * f)}
            </text>
          </g>
        ))}
        {ticks.map((t) => (
          <text key={t} x={x(t)} y={H - 6} textAnchor="middle" className="axis">
            {new Date(t).toISOString().slice(5, 10)}
          </text>
        ))}
        {props.goal ? (
          <g>
            <line x1={LEFT} x2={W - RIGHT} y1={y(props.goal.value)} y2={y(props.goal.value)} className="goal" />
            <text x={W - RIGHT} y={y(props.goal.value) - 4} textAnchor="end" className="axis">
              {props.goal.label}
            </text>
          </g>
        ) : null}
        {props.bars ? (
          props.points.map((p) => (
            <rect
              key={p.at}
              x={x(p.at) - 2}
              width={4}
              y={y(p.value)}
              height={Math.max(y(0) - y(p.value), 1)}
              className={p.tone ? `bar ${p.tone}` : 'bar'}
            >
              <title>{`${new Date(p.at).toISOString().slice(0, 16).replace('T', ' ')} UTC: ${props.unit(p.value)}${p.note ? `; ${p.note}` : ''}`}</title>
            </rect>
          ))
        ) : (
          <polyline
            className="line"
            points={props.points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ')}
          />
        )}
      </svg>
      <figcaption>{props.title}</figcaption>
    </figure>
  );
}

/**
 * The recovery point over time: at each moment, the age of the newest
 * backup completed by then. A sawtooth that rises between backups and
 * drops at each; its peaks are the data a failure then would have lost.
 */
export function recoveryPoints(completed: readonly number[], from: number, to: number, step = HOUR): Point[] {
  const times = [...completed].sort((a, b) => a - b);
  const points: Point[] = [];
  let i = 0;
  let newest: number | undefined;
  for (let t = from; t <= to; t += step) {
    while (i < times.length && times[i]! <= t) newest = times[i++];
    // Each drop, at the moment a backup completes.
    if (newest !== undefined) points.push({ at: t, value: (t - newest) / HOUR });
  }
  return points;
}

/** Restore drills as bars of their duration, green when the restored copy proved good and red when not. */
export function drillPoints(
  backups: readonly {
    name: string;
    drill?: { at: string; passed: boolean; durationSeconds?: number; tables?: number; rows?: number; message?: string };
  }[],
  from: number,
): Point[] {
  return backups
    .flatMap((b) => (b.drill && Date.parse(b.drill.at) >= from ? [{ name: b.name, drill: b.drill }] : []))
    .map(({ name, drill }) => ({
      at: Date.parse(drill.at),
      value: drill.durationSeconds ?? 0,
      tone: drill.passed ? ('passed' as const) : ('failed' as const),
      note: `${drill.passed ? 'passed' : 'FAILED'}: ${name}${drill.tables !== undefined ? `, ${drill.tables} tables` : ''}${drill.rows !== undefined ? `, ${drill.rows} rows` : ''}${drill.message ? ` (${drill.message})` : ''}`,
    }))
    .sort((a, b) => a.at - b.at);
}
