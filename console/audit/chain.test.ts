import { describe, expect, it } from 'vitest';
import { GENESIS, canonicalJson, entryHash, verifyChain, type ChainedEntry } from './chain.js';

type Content = Partial<Omit<ChainedEntry, 'seq' | 'prevHash' | 'hash'>>;

/** A well-formed chain of `contents.length` entries starting at `firstSeq` after `prevHash`. */
function chain(contents: Content[], firstSeq = 1, prevHash = GENESIS): ChainedEntry[] {
  const entries: ChainedEntry[] = [];
  for (const [i, content] of contents.entries()) {
    const unhashed = {
      seq: firstSeq + i,
      at: `2026-11-25T10:00:0${i % 10}.000Z`,
      actor: 'admin@holdfast.test',
      tenantId: null,
      action: 'tenant.updated',
      target: 'tenant/a',
      ip: '10.0.0.1',
      before: null,
      after: null,
      ...content,
      prevHash: entries.at(-1)?.hash ?? prevHash,
    };
    entries.push({ ...unhashed, hash: entryHash(unhashed) });
  }
  return entries;
}

const five = () =>
  chain([
    {
      action: 'bootstrap.admin-created',
      actor: 'console',
      after: { email: 'admin@holdfast.test', role: 'platform-admin' },
    },
    { action: 'tenant.created', tenantId: 'a', after: { id: 'a', displayName: 'A' } },
    {
      action: 'tenant.updated',
      tenantId: 'a',
      before: { displayName: 'A', roleMapping: [] },
      after: { displayName: 'B', roleMapping: [{ group: 'ops', role: 'auditor' }] },
    },
    { action: 'sign-in.failed', actor: 'eve@a.test', tenantId: 'a', after: { factor: 'password', failures: 1 } },
    { action: 'audit.exported', target: 'audit-log' },
  ]);

describe('canonicalJson', () => {
  it.each<[string, unknown, string]>([
    [
      'sorts keys at every level',
      { b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } },
      '{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}',
    ],
    ['keeps the order of arrays', ['b', 'a', 2, 1], '["b","a",2,1]'],
    ['leaves out undefined properties', { a: undefined, b: 1 }, '{"b":1}'],
    ['writes undefined as null', undefined, 'null'],
    ['writes undefined in arrays as null', [undefined, null], '[null,null]'],
    ['escapes strings as JSON does', { 'k"\n': 'ä\u0000"' }, '{"k\\"\\n":"ä\\u0000\\""}'],
    ['writes scalars as JSON', 12.5, '12.5'],
    ['writes an empty object and array', { a: {}, b: [] }, '{"a":{},"b":[]}'],
  ])('%s', (_name, value, json) => {
    expect(canonicalJson(value)).toBe(json);
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(json));
  });

  it('gives the same text for the same content in any key order', () => {
    expect(canonicalJson({ x: 1, y: { b: 2, a: 1 } })).toBe(canonicalJson({ y: { a: 1, b: 2 }, x: 1 }));
  });
});

describe('entryHash', () => {
  it('does not depend on the key order of before and after (as a jsonb round trip may reorder them)', () => {
    const [entry] = chain([{ after: { displayName: 'B', totpRequired: true } }]);
    const reordered = { ...entry!, after: { totpRequired: true, displayName: 'B' } };
    expect(entryHash(reordered)).toBe(entry!.hash);
  });

  it('treats a missing before or after as null', () => {
    const [entry] = chain([{}]);
    const { before: _b, after: _a, ...rest } = entry!;
    expect(entryHash({ ...rest, before: undefined, after: undefined })).toBe(entry!.hash);
  });

  it('covers every field', () => {
    const [entry] = chain([{ tenantId: 'a', after: { x: 1 } }]);
    const changes: Partial<ChainedEntry>[] = [
      { seq: 2 },
      { at: '2026-11-25T10:00:01.000Z' },
      { actor: 'eve@a.test' },
      { tenantId: null },
      { action: 'tenant.created' },
      { target: 'tenant/b' },
      { ip: '10.0.0.2' },
      { before: {} },
      { after: { x: 2 } },
      { prevHash: 'f'.repeat(64) },
    ];
    for (const change of changes)
      expect(entryHash({ ...entry!, ...change }), JSON.stringify(change)).not.toBe(entry!.hash);
  });
});

describe('verifyChain', () => {
  it('accepts a whole chain and reports its length and last hash', () => {
    const entries = five();
    expect(verifyChain(entries)).toEqual({ ok: true, entries: 5, lastHash: entries[4]!.hash });
  });

  it('accepts an empty log', () => {
    expect(verifyChain([])).toEqual({ ok: true, entries: 0, lastHash: GENESIS });
  });

  it('refuses a chain that does not start at entry 1 (a suffix of the log)', () => {
    const tail = five().slice(2);
    expect(verifyChain(tail)).toEqual({
      ok: false,
      entries: 1,
      seq: 3,
      problem: 'the export starts at entry 3, not at entry 1: it is not the whole log',
    });
  });

  it('requires the first entry of the log to follow the start of the log', () => {
    const entries = chain([{}, {}], 1, 'a'.repeat(64));
    expect(verifyChain(entries)).toEqual({
      ok: false,
      entries: 1,
      seq: 1,
      problem: 'entry 1 does not follow the start of the log',
    });
  });

  it('finds a changed field, naming the entry', () => {
    const entries = five();
    entries[2] = { ...entries[2]!, after: { displayName: 'C', roleMapping: [{ group: 'ops', role: 'auditor' }] } };
    expect(verifyChain(entries)).toEqual({
      ok: false,
      entries: 3,
      seq: 3,
      problem: 'entry 3 was altered after it was written (its content does not match its hash)',
    });
  });

  it('finds a missing entry', () => {
    const entries = five();
    entries.splice(1, 1);
    expect(verifyChain(entries)).toEqual({
      ok: false,
      entries: 2,
      seq: 3,
      problem: 'entry 2 is missing (found 3 after 1)',
    });
  });

  it('finds entries in the wrong order', () => {
    const entries = five();
    [entries[1], entries[2]] = [entries[2]!, entries[1]!];
    expect(verifyChain(entries)).toMatchObject({ ok: false, seq: 3, problem: 'entry 2 is missing (found 3 after 1)' });
  });

  it('finds an entry whose hash was recomputed after a change, at the entry after it', () => {
    const entries = five();
    const forged = { ...entries[1]!, actor: 'eve@a.test' };
    entries[1] = { ...forged, hash: entryHash(forged) };
    expect(verifyChain(entries)).toEqual({
      ok: false,
      entries: 3,
      seq: 3,
      problem: 'entry 3 does not point to the hash of entry 2: the log was changed',
    });
  });

  it('cannot tell a cut-off or rewritten chain by itself: the last hash it reports is what to compare with one kept elsewhere', () => {
    const entries = five();
    const cut = verifyChain(entries.slice(0, 3));
    expect(cut).toMatchObject({ ok: true, entries: 3 });
    expect(cut.ok && cut.lastHash).not.toBe(entries[4]!.hash);

    const rewritten = chain(
      entries.map(({ seq: _s, prevHash: _p, hash: _h, ...content }, i) =>
        i === 3 ? { ...content, actor: 'someone-else@a.test' } : content,
      ),
    );
    const result = verifyChain(rewritten);
    expect(result).toMatchObject({ ok: true, entries: 5 });
    expect(result.ok && result.lastHash).not.toBe(entries[4]!.hash);
  });
});
