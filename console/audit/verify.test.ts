import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS, canonicalJson, entryHash, type ChainedEntry } from './chain.js';
import { duplicateKey } from './export-format.js';
import { parsePublicKey, publicKeyText, signHead } from './head.js';
import { checkExport, report } from './verify.js';

const consoleKey = generateKeyPairSync('ed25519').privateKey;
const otherKey = generateKeyPairSync('ed25519').privateKey;
const pinned = parsePublicKey(publicKeyText(consoleKey));

/** A well-formed chain from entry 1, with the given actors. */
function chain(actors: string[]): ChainedEntry[] {
  const entries: ChainedEntry[] = [];
  for (const [i, actor] of actors.entries()) {
    const unhashed = {
      seq: i + 1,
      at: `2026-11-25T10:00:0${i}.000Z`,
      actor,
      tenantId: null,
      action: 'tenant.updated',
      target: 'tenant/a',
      ip: '10.0.0.1',
      before: null,
      after: { displayName: `A${i}` },
      prevHash: entries.at(-1)?.hash ?? GENESIS,
    };
    entries.push({ ...unhashed, hash: entryHash(unhashed) });
  }
  return entries;
}

/** The export as the console writes it: one entry per line, then the signed head. */
function exported(entries: ChainedEntry[], key = consoleKey): string[] {
  const head = signHead(key, entries.length, entries.at(-1)?.hash ?? GENESIS);
  return [...entries.map((e) => JSON.stringify(e)), canonicalJson(head), ''];
}

const actors = ['admin@holdfast.test', 'eve@a.test', 'admin@holdfast.test', 'bob@a.test', 'admin@holdfast.test'];

describe('checkExport', () => {
  it('accepts an export as the console writes it, with and without a pinned key', () => {
    const lines = exported(chain(actors));
    expect(checkExport(lines, pinned)).toMatchObject({ ok: true, pinned: true });
    const unpinned = checkExport(lines);
    expect(unpinned).toMatchObject({ ok: true, pinned: false });
    expect(report(unpinned)).toContain(`by ${publicKeyText(consoleKey)}, the key the file names`);
  });

  it.each<[string, (lines: string[]) => string[], string]>([
    ['an empty file', () => [''], 'the file holds no audit export (it is empty)'],
    ['an export cut at a line end', (l) => l.slice(0, 4), 'it was cut off after entry 4'],
    ['an export cut inside a line', (l) => [...l.slice(0, 3), l[3]!.slice(0, 40)], 'line 4 is not JSON'],
    ['an export with its last entries gone', (l) => [...l.slice(0, 3), l[5]!], 'the console signed a log of 5 entries'],
    ['a suffix of the log', (l) => l.slice(2), 'the export starts at entry 3, not at entry 1'],
    ['a line after the statement', (l) => [...l.slice(0, 6), l[0]!], 'line 7 follows the closing statement'],
  ])('refuses %s', (_name, cut, problem) => {
    const verdict = checkExport(cut(exported(chain(actors))), pinned);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.problem).toContain(problem);
  });

  it('refuses an entry changed with every later hash recomputed, under the statement the console signed', () => {
    const original = exported(chain(actors));
    const rewritten = chain(actors.map((a, i) => (i === 1 ? 'someone-else@a.test' : a)));
    const lines = [...rewritten.map((e) => JSON.stringify(e)), original[5]!];
    const verdict = checkExport(lines, pinned);
    expect(verdict).toMatchObject({ ok: false });
    expect(verdict.ok ? '' : verdict.problem).toMatch(/is not the head the console signed .*: the log was rewritten$/);
  });

  it('refuses a rewritten export signed with another key when the console key is pinned', () => {
    const forged = exported(chain(actors.map((a, i) => (i === 1 ? 'someone-else@a.test' : a))), otherKey);
    expect(checkExport(forged)).toMatchObject({ ok: true, pinned: false });
    const verdict = checkExport(forged, pinned);
    expect(verdict.ok ? '' : verdict.problem).toBe(
      `the export is signed by ${publicKeyText(otherKey)}, not by the pinned key ${publicKeyText(consoleKey)}: it was not made by that console`,
    );
  });

  it('refuses a statement whose content was changed after signing', () => {
    const lines = exported(chain(actors));
    const statement = JSON.parse(lines[5]!) as Record<string, unknown>;
    lines[5] = JSON.stringify({ ...statement, entries: 4 });
    const verdict = checkExport([...lines.slice(0, 4), lines[5]], pinned);
    expect(verdict.ok ? '' : verdict.problem).toContain('does not match its content: the statement was changed');
  });

  it('refuses a duplicate key, even when the copy the parser keeps is the signed one', () => {
    const lines = exported(chain(actors));
    lines[1] = lines[1]!.replace('{"seq":2,', '{"actor":"someone-else@a.test","seq":2,');
    expect(checkExport(lines, pinned)).toEqual({
      ok: false,
      problem: 'line 2 has the key "actor" twice (the export was changed)',
    });
  });

  it('refuses fields the hash does not cover, in an entry and in the statement', () => {
    const lines = exported(chain(actors));
    const withNote = [...lines];
    withNote[2] = lines[2]!.replace('{"seq":3,', '{"note":"approved by the CFO","seq":3,');
    expect(checkExport(withNote, pinned)).toEqual({
      ok: false,
      problem: 'line 3 has an unknown field "note" (the export was changed)',
    });
    const withExtra = [...lines];
    withExtra[5] = lines[5]!.replace('{"entries"', '{"comment":"x","entries"');
    expect(checkExport(withExtra, pinned)).toMatchObject({
      problem: 'line 6 has an unknown field "comment" (the export was changed)',
    });
  });
});

describe('duplicateKey', () => {
  it.each<[string, string | undefined]>([
    ['{"a":1,"b":{"a":2}}', undefined],
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"x":[{"a":1},{"a":1}],"y":"a\\":"}', undefined],
    ['{"x":{"k":"\\"","k":0}}', 'k'],
    ['[{"a":1}, {"b":1 , "b" :2}]', 'b'],
  ])('%s', (json, key) => {
    expect(duplicateKey(json)).toBe(key);
  });
});
