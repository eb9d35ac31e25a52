import { describe, expect, it } from 'vitest';
import { MANIFEST_FORMAT, type Manifest } from './artifact.js';
import { DIGEST_METHOD } from './database.js';
import { compare, describeMismatches } from './restore.js';

const manifest = (digests?: Record<string, string>): Manifest => ({
  format: MANIFEST_FORMAT,
  backup: 'acme-20261130-040000',
  workspace: 'acme',
  reason: 'Scheduled',
  artifact: 'acme/2026/11/acme-20261130-040000.dump.age',
  size: 1,
  sha256: '0'.repeat(64),
  encryption: { format: 'age-encryption.org/v1', recipients: [] },
  database: { name: 'app', serverVersion: '17.2', tables: 2, rows: 15 },
  rowCounts: { 'public.hours': 10, 'public.people': 5 },
  ...(digests ? { contentDigests: { method: DIGEST_METHOD, tables: digests } } : {}),
  tools: { pgDump: '17.2', holdfast: 'dev' },
  startedAt: '2026-11-30T04:00:00Z',
  completedAt: '2026-11-30T04:00:05Z',
  copies: [],
});

describe('compare', () => {
  const restored = {
    rows: { 'public.hours': 10, 'public.people': 5 },
    digests: { 'public.hours': '42', 'public.people': '-7' },
  };

  it('finds nothing when rows and digests match', () => {
    expect(compare(manifest({ 'public.hours': '42', 'public.people': '-7' }), restored)).toEqual([]);
  });

  it('finds a table with the same count but other rows', () => {
    const m = compare(manifest({ 'public.hours': '43', 'public.people': '-7' }), restored);
    expect(m).toEqual([{ table: 'public.hours', expected: 10, restored: 10, contentDiffers: true }]);
    expect(describeMismatches(m)).toBe("public.hours: other rows than the backup's (10 rows, content differs)");
  });

  it('names missing and extra tables and other counts by their counts', () => {
    const m = compare(manifest({ 'public.hours': '42', 'public.people': '-7' }), {
      rows: { 'public.hours': 9, 'public.extra': 1 },
      digests: { 'public.hours': '41', 'public.extra': '1' },
    });
    expect(m).toEqual([
      { table: 'public.extra', restored: 1 },
      { table: 'public.hours', expected: 10, restored: 9 },
      { table: 'public.people', expected: 5 },
    ]);
    expect(describeMismatches(m)).toBe(
      'public.extra 1 (manifest missing), public.hours 9 (manifest 10), public.people missing (manifest 5)',
    );
  });

  it('compares counts only for a manifest from before digests', () => {
    expect(compare(manifest(), { ...restored, digests: {} })).toEqual([]);
  });
});
