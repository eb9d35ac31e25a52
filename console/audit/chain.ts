// The audit log's hash chain, as pure functions: the console writes entries
// with them and `holdfast audit verify` checks an export with them, offline.
import { createHash } from 'node:crypto';

export interface ChainedEntry {
  seq: number;
  at: string;
  actor: string;
  tenantId: string | null;
  action: string;
  target: string;
  ip: string;
  before: unknown;
  after: unknown;
  prevHash: string;
  hash: string;
}

/** The hash of the (empty) chain before the first entry. */
export const GENESIS = '0'.repeat(64);

/** JSON with object keys sorted at every level, so a hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function entryHash(entry: Omit<ChainedEntry, 'hash'>): string {
  const { seq, at, actor, tenantId, action, target, ip, before, after, prevHash } = entry;
  return createHash('sha256')
    .update(
      canonicalJson({
        seq,
        at,
        actor,
        tenantId,
        action,
        target,
        ip,
        before: before ?? null,
        after: after ?? null,
        prevHash,
      }),
    )
    .digest('hex');
}

export type VerifyResult =
  { ok: true; entries: number; lastHash: string } | { ok: false; entries: number; seq: number; problem: string };

/**
 * Checks that entries form one unbroken chain from the start of the log:
 * entry 1 follows the genesis hash, sequence numbers are consecutive, each
 * entry's prevHash is the previous entry's hash, and each hash is
 * recomputed from the entry's content. Whether the chain is the whole log is
 * for the signed head (head.ts) to say.
 */
export function verifyChain(entries: Iterable<ChainedEntry>): VerifyResult {
  let prev: ChainedEntry | undefined;
  let count = 0;
  for (const entry of entries) {
    count++;
    if (prev === undefined) {
      if (entry.seq !== 1) {
        return {
          ok: false,
          entries: count,
          seq: entry.seq,
          problem: `the export starts at entry ${entry.seq}, not at entry 1: it is not the whole log`,
        };
      }
      if (entry.prevHash !== GENESIS) {
        return { ok: false, entries: count, seq: 1, problem: 'entry 1 does not follow the start of the log' };
      }
    } else {
      if (entry.seq !== prev.seq + 1) {
        return {
          ok: false,
          entries: count,
          seq: entry.seq,
          problem: `entry ${prev.seq + 1} is missing (found ${entry.seq} after ${prev.seq})`,
        };
      }
      if (entry.prevHash !== prev.hash) {
        return {
          ok: false,
          entries: count,
          seq: entry.seq,
          problem: `entry ${entry.seq} does not point to the hash of entry ${prev.seq}: the log was changed`,
        };
      }
    }
    if (entryHash(entry) !== entry.hash) {
      return {
        ok: false,
        entries: count,
        seq: entry.seq,
        problem: `entry ${entry.seq} was altered after it was written (its content does not match its hash)`,
      };
    }
    prev = entry;
  }
  return { ok: true, entries: count, lastHash: prev?.hash ?? GENESIS };
}
