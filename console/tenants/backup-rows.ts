// Backups as the console shows them, and what retention keeps each for:
// pure, so that the page can run the same plan in the browser to preview a
// retention change.
import { planRetention, type KeepReason, type Retention } from '../../operator/api/retention.js';
import type { BackupResource } from '../workspaces.js';

export interface BackupRow {
  name: string;
  phase: string;
  reason: string;
  startedAt?: string;
  completedAt?: string;
  size?: number;
  sizeText?: string;
  durationSeconds?: number;
  copies: { destination: string; phase: string }[];
  /** passed / failed by the last restore drill of this backup, or never drilled. */
  verified: 'passed' | 'failed' | 'never';
  verifiedAt?: string;
  /** What the last restore drill of this backup found. */
  drill?: {
    at: string;
    passed: boolean;
    durationSeconds?: number;
    tables?: number;
    rows?: number;
    contentChecked?: boolean;
    destination?: string;
    message?: string;
  };
  message?: string;
  /** Why retention keeps it (hourly … yearly, newest, newest-verified, restore); empty: the next prune deletes it. */
  keptFor: KeepReason[];
}

/** What `retention` keeps of `rows` (the succeeded ones), by name: the operator's own plan. */
export function keptBy(rows: readonly BackupRow[], retention: Retention, pinned: ReadonlySet<string> = new Set()) {
  return planRetention(
    rows
      .filter((r) => r.completedAt)
      .map((r) => ({
        name: r.name,
        completedAt: new Date(r.completedAt!),
        succeeded: r.phase === 'Succeeded',
        verified: r.verified === 'passed',
        pinned: pinned.has(r.name),
      })),
    retention,
  ).keep;
}

export function backupRows(backups: BackupResource[], retention: Retention, pinned: Set<string>): BackupRow[] {
  const rows = backups
    .map((b): BackupRow => {
      const s = b.status ?? {};
      const started = s.startedAt ? Date.parse(s.startedAt) : NaN;
      const completed = s.completedAt ? Date.parse(s.completedAt) : NaN;
      return {
        name: b.metadata.name,
        phase: s.phase ?? 'Pending',
        reason: b.spec?.reason ?? 'OnDemand',
        ...(s.startedAt ? { startedAt: s.startedAt } : {}),
        ...(s.completedAt ? { completedAt: s.completedAt } : {}),
        ...(s.size !== undefined ? { size: s.size } : {}),
        ...(s.sizeText ? { sizeText: s.sizeText } : {}),
        ...(Number.isFinite(started) && Number.isFinite(completed)
          ? { durationSeconds: Math.round((completed - started) / 1000) }
          : {}),
        copies: (s.copies ?? []).map((c) => ({ destination: c.destination, phase: c.phase })),
        verified: s.verification ? (s.verification.passed ? 'passed' : 'failed') : 'never',
        ...(s.verifiedAt ? { verifiedAt: s.verifiedAt } : {}),
        ...(s.verification ? { drill: s.verification } : {}),
        ...(s.message ? { message: s.message } : {}),
        keptFor: [],
      };
    })
    .sort((a, b) => (b.completedAt ?? b.startedAt ?? '\uffff').localeCompare(a.completedAt ?? a.startedAt ?? '\uffff'));
  const keep = keptBy(rows, retention, pinned);
  for (const r of rows) r.keptFor = keep.get(r.name) ?? [];
  return rows;
}
