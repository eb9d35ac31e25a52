// The zod schema enforces the same rules as the CRD, with the same messages,
// so the console can refuse bad input before it reaches the apiserver.
import { describe, expect, it } from 'vitest';
import { CRON, WorkspaceSpec, checkWorkspaceName } from '../../operator/api/workspace.js';
import { badWorkspaces } from '../harness/fixtures.js';

// Cases the apiserver alone can judge: old-vs-new rules, unknown fields
// (zod strips them), and rules whose CEL uses duration arithmetic.
const apiserverOnly = (c: { then?: unknown; expect: string }) =>
  c.then !== undefined || c.expect.startsWith('unknown field') || c.expect.includes('renewBefore must be shorter');

describe('WorkspaceSpec', () => {
  it.each(badWorkspaces().filter((c) => !apiserverOnly(c)))('rejects $case', (c) => {
    if (c.name !== undefined) {
      expect(checkWorkspaceName(c.name)).toContain(c.expect);
      return;
    }
    const result = WorkspaceSpec.safeParse(c.spec);
    expect(result.success).toBe(false);
    const issues = result.error!.issues;
    // Either the same words as the apiserver (rules written once in the schema),
    // or, for the apiserver's built-in checks (types, enums, bounds), an issue
    // on the same field.
    const sameWords = issues.some((i) => i.message.includes(c.expect));
    const field = /^spec\.([\w.]+)/.exec(c.expect)?.[1];
    const sameField = field !== undefined && issues.some((i) => i.path.join('.') === field);
    expect(
      sameWords || sameField,
      `${c.expect}\n  zod said: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    ).toBe(true);
  });

  it('fills in the defaults from an empty spec', () => {
    const spec = WorkspaceSpec.parse({});
    expect(spec.backup.schedule).toBe('0 4 * * *');
    expect(spec.backup.retention).toEqual({ hourly: 0, daily: 30, weekly: 26, monthly: 12, yearly: 0 });
    expect(spec.deletionPolicy).toBe('Snapshot');
    expect(spec.volume.encryption).toBe('Required');
    expect(spec.database.mode).toBe('Dedicated');
  });

  it.each(['0 4 * * *', '*/15 * * * *', '0 0-6/2 1,15 * 1-5', '@daily', '59 23 31 12 6'])('accepts cron %s', (c) => {
    expect(CRON.test(c)).toBe(true);
  });
});
