import { describe, expect, it } from 'vitest';
import { summarizeExports, type ExportJobLike } from './status.js';

const job = (name: string, type: 'Complete' | 'Failed' | undefined, at: string, message?: string): ExportJobLike => ({
  metadata: { name, namespace: 'ws-acme', labels: { 'holdfast.io/component': 'export' } },
  status: {
    startTime: at,
    ...(type === 'Complete' ? { completionTime: at } : {}),
    conditions: type ? [{ type, status: 'True', lastTransitionTime: at, ...(message ? { message } : {}) }] : [],
  },
});

describe('summarizeExports', () => {
  it('says nothing before an export Job has ended', () => {
    expect(summarizeExports([job('export-1', undefined, '2026-11-30T04:30:00Z')], undefined, 365)).toEqual({});
  });

  it('gives the newest stored export and a True condition when the newest run succeeded', () => {
    const s = summarizeExports(
      [job('export-1', 'Complete', '2026-11-29T04:31:00Z'), job('export-2', 'Complete', '2026-11-30T04:31:00Z')],
      undefined,
      365,
    );
    expect(s.lastExportTime).toBe('2026-11-30T04:31:00Z');
    expect(s.condition).toMatchObject({ type: 'LastExportSucceeded', status: 'True', reason: 'Exported' });
    expect(s.condition!.message).toContain('kept 365 days');
  });

  it('keeps the last stored time after its Job is gone, and says how to read why the newest run failed', () => {
    const s = summarizeExports(
      [job('export-3', 'Failed', '2026-12-01T04:40:00Z', 'Job has reached the specified backoff limit')],
      '2026-11-30T04:31:00Z',
      30,
    );
    expect(s.lastExportTime).toBe('2026-11-30T04:31:00Z');
    expect(s.condition).toMatchObject({ type: 'LastExportSucceeded', status: 'False', reason: 'ExportFailed' });
    expect(s.condition!.message).toBe(
      'export Job export-3 failed at 2026-12-01T04:40:00Z (Job has reached the specified backoff limit): ' +
        'see kubectl logs -n ws-acme job/export-3; the last export stored is from 2026-11-30T04:31:00Z',
    );
  });

  it('never moves lastExportTime back to an older run', () => {
    expect(
      summarizeExports([job('export-1', 'Complete', '2026-11-01T04:31:00Z')], '2026-11-30T04:31:00Z', 365),
    ).toMatchObject({ lastExportTime: '2026-11-30T04:31:00Z' });
  });
});
