import { describe, expect, it } from 'vitest';
import { describePreview, previewRetention } from '../../console/tenants/retention-preview.js';
import { fieldErrors, ownedConfig, planApply } from '../../console/tenants/workspace-settings.js';
import { nextRun } from '../../operator/api/cron.js';
import { planRetention } from '../../operator/api/retention.js';
import type { Workspace } from '../../operator/api/workspace.js';

const now = new Date('2026-12-01T12:00:00Z');

describe('previewRetention', () => {
  it('counts what the default GFS tiers keep of a daily backup: 30 days, 26 weeks, 12 months', () => {
    const p = previewRetention('0 4 * * *', { daily: 30, weekly: 26, monthly: 12 }, { now, backupBytes: 100 << 20 });
    if (!p) throw new Error('no preview');
    expect(p.byTier).toEqual({ hourly: 0, daily: 30, weekly: 26, monthly: 12, yearly: 0 });
    // The 30 daily cover 4 of the weeks and 1 of the months: 30 + 22 + 6 or so, shared backups counted once.
    expect(p.kept).toBeGreaterThan(50);
    expect(p.kept).toBeLessThan(68);
    // The twelfth month back is January: its newest backup is the oldest kept.
    expect(p.oldestDays).toBeGreaterThanOrEqual(300);
    expect(p.bytes).toBe(p.kept * (100 << 20));
    expect(describePreview(p, 100 << 20)).toMatch(
      /^keeps 30 daily, 26 weekly, 12 monthly: \d+ backups, the oldest \d+ days old; about [\d.]+ GiB at today's backup size \(100 MiB\)$/,
    );
  });

  it('keeps 24 hourly backups of an hourly schedule and nothing older with only that tier', () => {
    const p = previewRetention('@hourly', { hourly: 24 }, { now })!;
    expect(p.kept).toBe(24);
    expect(p.oldestDays).toBe(1);
  });

  it('keeps exactly what the planner keeps of every run the schedule would have taken', () => {
    const cases = [
      ['0 * * * *', { hourly: 24, daily: 7, weekly: 26, monthly: 12, yearly: 3 }],
      ['15 */6 * * 1-5', { hourly: 10, daily: 20, weekly: 8, monthly: 24, yearly: 2 }],
      ['0 3 1 * *', { monthly: 6, yearly: 4 }],
      ['30 2 * * 0', { daily: 3, weekly: 52 }],
      ['0 6 1,15 * *', { daily: 30, weekly: 20 }],
      ['0 */2 * * *', { hourly: 50, daily: 10, yearly: 5 }],
    ] as const;
    for (const [schedule, retention] of cases) {
      const runs: { name: string; completedAt: Date; succeeded: boolean }[] = [];
      for (
        let at = nextRun(schedule, new Date(now.getTime() - 6 * 366 * 86_400_000));
        at && at <= now;
        at = nextRun(schedule, at)
      )
        runs.push({ name: String(runs.length), completedAt: at, succeeded: true });
      const plan = planRetention(runs, retention);
      const oldest = Math.min(...[...plan.keep.keys()].map((n) => runs[Number(n)]!.completedAt.getTime()));
      expect([schedule, previewRetention(schedule, retention, { now })]).toMatchObject([
        schedule,
        { kept: plan.keep.size, oldestDays: Math.round((now.getTime() - oldest) / 86_400_000) },
      ]);
    }
  });

  it('gives nothing for text the apiserver would refuse, without trying to run it', () => {
    for (const text of ['*/0.000001 * * * *', '0-100000000 * * * *', '0 4 * *', 'every night'])
      expect(previewRetention(text, { daily: 3 }, { now })).toBeUndefined();
  });

  it('gives nothing for a schedule that never runs', () => {
    expect(previewRetention('0 0 31 2 *', { daily: 3 }, { now })).toBeUndefined();
  });
});

function workspace(managedFields: NonNullable<Workspace['metadata']['managedFields']>): Workspace {
  return {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Workspace',
    metadata: { name: 'acme', managedFields },
    spec: {
      tenant: 'acme',
      displayName: 'Acme',
      database: { mode: 'Dedicated', provider: 'builtin', version: '17', storage: '10Gi' },
      volume: { size: '20Gi', encryption: 'Required' },
      tls: { issuer: 'Internal', duration: '2160h' },
      backup: {
        schedule: '0 4 * * *',
        retention: { hourly: 0, daily: 30, weekly: 26, monthly: 12, yearly: 0 },
        destinations: [{ name: 'offsite' }],
        verify: { schedule: '0 5 * * 0' },
        export: { schedule: '30 4 * * *', retentionDays: 365 },
      },
      quota: { cpu: '8', memory: '8Gi', storage: '200Gi', pods: 20 },
      deletionPolicy: 'Snapshot',
      retention: { afterDeletion: '8760h' },
      suspend: false,
    },
  };
}

describe('planApply', () => {
  const consoleApply = {
    manager: 'holdfast-console',
    operation: 'Apply',
    fieldsV1: {
      'f:metadata': { 'f:labels': { 'f:holdfast.io/created-by': {} } },
      'f:spec': {
        'f:tenant': {},
        'f:displayName': {},
        'f:database': { 'f:mode': {} },
        'f:volume': { 'f:size': {} },
        'f:backup': { 'f:destinations': { 'k:{"name":"offsite"}': { '.': {}, 'f:name': {} } } },
      },
    },
  };
  const kubectl = {
    manager: 'kubectl-edit',
    operation: 'Update',
    fieldsV1: { 'f:spec': { 'f:quota': { 'f:cpu': {} } } },
  };

  it('sends again every field the console owns, and the changed one, and nothing kubectl set', () => {
    const ws = workspace([consoleApply, kubectl]);
    ws.metadata.labels = { 'holdfast.io/created-by': 'holdfast-console' };
    const plan = planApply(ws, { 'spec.backup.retention.daily': 14, 'spec.backup.schedule': '0 4 * * *' });
    expect(plan.changed).toEqual(['spec.backup.retention.daily']);
    expect(plan.config).toEqual({
      apiVersion: 'holdfast.io/v1alpha1',
      kind: 'Workspace',
      metadata: { name: 'acme', labels: { 'holdfast.io/created-by': 'holdfast-console' } },
      spec: {
        tenant: 'acme',
        displayName: 'Acme',
        database: { mode: 'Dedicated' },
        volume: { size: '20Gi' },
        backup: { destinations: [{ name: 'offsite' }], retention: { daily: 14 } },
      },
    });
  });

  it('drops a field the console owns when the form empties it, so its default returns', () => {
    const plan = planApply(workspace([consoleApply]), { 'spec.backup.destinations': undefined });
    expect(plan.changed).toEqual(['spec.backup.destinations']);
    expect((plan.config.spec as { backup?: unknown }).backup).toBeUndefined();
  });

  it('sends again only the list items the console set, not one GitOps added beside them', () => {
    const ws = workspace([
      consoleApply,
      {
        manager: 'argocd-controller',
        operation: 'Apply',
        fieldsV1: {
          'f:spec': { 'f:backup': { 'f:destinations': { 'k:{"name":"vault"}': { '.': {}, 'f:name': {} } } } },
        },
      },
    ]);
    ws.spec.backup.destinations = [{ name: 'offsite' }, { name: 'vault' }];
    const plan = planApply(ws, { 'spec.backup.schedule': '0 * * * *' });
    expect((plan.config.spec as { backup: unknown }).backup).toEqual({
      destinations: [{ name: 'offsite' }],
      schedule: '0 * * * *',
    });
  });

  it('writes nothing when nothing changed', () => {
    expect(
      planApply(workspace([consoleApply]), { 'spec.suspend': false, 'spec.deletionPolicy': 'Snapshot' }).changed,
    ).toEqual([]);
    expect(ownedConfig(workspace([])).spec).toBeUndefined();
  });
});

describe('fieldErrors', () => {
  it('puts each refused field next to the form field, a rule about a group on the group', () => {
    expect(
      fieldErrors(
        [
          { field: 'spec.backup.recipients[0]', message: 'must be age recipients' },
          { field: 'spec.backup.retention', message: 'keeps no backups at all' },
          { field: '.spec.backup.retention.daily', message: 'conflict with "kubectl-edit"' },
          { field: 'spec.somethingElse', message: 'odd' },
        ],
        'refused',
      ),
    ).toEqual({
      'spec.backup.recipients': 'must be age recipients',
      'spec.backup.retention': 'keeps no backups at all',
      'spec.backup.retention.daily': 'conflict with "kubectl-edit"',
      '': 'odd',
    });
  });
});
