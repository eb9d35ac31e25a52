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
    const messages = result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    // Same words as the apiserver's message, minus its "Invalid value" framing.
    const key = c.expect.includes('Unsupported value') || c.expect.includes('in body should') || c.expect.includes('Duplicate')
      ? c.expect.split(':')[0]!.replace(/^spec\./, '').replace(/\[\d+\]$/, '')
      : c.expect;
    expect(messages).toContain(key);
  });

  it('fills in the defaults from an empty spec', () => {
    const spec = WorkspaceSpec.parse({});
    expect(spec.backup.schedule).toBe('0 4 * * *');
    expect(spec.backup.retention).toEqual({ hourly: 0, daily: 30, weekly: 26, monthly: 12, yearly: 0 });
    expect(spec.deletionPolicy).toBe('Snapshot');
    expect(spec.volume.encryption).toBe('Required');
    expect(spec.database.mode).toBe('Dedicated');
  });

  it.each(['0 4 * * *', '*/15 * * * *', '0 0-6/2 1,15 * 1-5', '@daily', '59 23 31 12 7'])('accepts cron %s', (c) => {
    expect(CRON.test(c)).toBe(true);
  });
});
