// What `holdfast audit verify` decides about an export, as a pure function
// over its lines: strict lines, one chain from entry 1, and a closing
// statement, signed by the console (or by the key the auditor pinned), that
// names exactly the entries and the head the export holds.
import type { KeyObject } from 'node:crypto';
import { verifyChain, type ChainedEntry } from './chain.js';
import { parseExportLine } from './export-format.js';
import { headSignatureProblem, type HeadStatement } from './head.js';

export type ExportVerdict =
  | { ok: true; entries: ChainedEntry[]; statement: HeadStatement; pinned: boolean }
  | { ok: false; problem: string; seq?: number };

export function checkExport(lines: Iterable<string>, pinned?: KeyObject): ExportVerdict {
  const entries: ChainedEntry[] = [];
  let statement: HeadStatement | undefined;
  let n = 0;
  for (const text of lines) {
    n++;
    if (!text.trim()) continue;
    if (statement) return { ok: false, problem: `line ${n} follows the closing statement (the export was changed)` };
    let line;
    try {
      line = parseExportLine(text);
    } catch (err) {
      return { ok: false, problem: `line ${n} ${(err as Error).message}` };
    }
    if (line.kind === 'head') statement = line.statement;
    else entries.push(line.entry);
  }
  if (!statement) {
    const last = entries.at(-1);
    return {
      ok: false,
      problem: last
        ? `the export does not end with the console's signed statement: it was cut off after entry ${last.seq}`
        : 'the file holds no audit export (it is empty): export the log again from the console',
    };
  }
  const unsigned = headSignatureProblem(statement, pinned);
  if (unsigned) return { ok: false, problem: unsigned };
  const chain = verifyChain(entries);
  if (!chain.ok) return { ok: false, problem: chain.problem, seq: chain.seq };
  if (entries.length !== statement.entries)
    return {
      ok: false,
      problem: `the console signed a log of ${statement.entries} entries and the export holds ${entries.length}: ${entries.length < statement.entries ? 'it was cut short' : 'entries were added'}`,
    };
  if (chain.lastHash !== statement.head)
    return {
      ok: false,
      problem: `the last entry's hash ${chain.lastHash} is not the head the console signed (${statement.head}): the log was rewritten`,
    };
  return { ok: true, entries, statement, pinned: pinned !== undefined };
}

/** The lines `holdfast audit verify` prints for a verdict. */
export function report(verdict: ExportVerdict): string {
  if (!verdict.ok)
    return `audit log BROKEN${verdict.seq === undefined ? '' : ` at entry ${verdict.seq}`}: ${verdict.problem}\n`;
  const { entries, statement } = verdict;
  const first = entries[0];
  const last = entries.at(-1);
  const span = first && last ? ` (${first.seq}–${last.seq}, ${first.at} to ${last.at})` : '';
  const signer = verdict.pinned
    ? `signed by the pinned key ${statement.publicKey} at ${statement.signedAt}`
    : `signed at ${statement.signedAt} by ${statement.publicKey}, the key the file names: compare it with the key on the console's audit page, or pass --public-key`;
  return `audit log intact: ${entries.length} entries${span}, last hash ${statement.head}\n${signer}\n`;
}
