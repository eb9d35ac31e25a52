// One line of an audit export, read strictly. JSON parsers disagree on which
// of two equal keys wins, so a line with a duplicate key could show a reader
// one actor while the hash covers another; a field the hash does not cover
// could carry anything. Both are refused, not ignored.
import { z } from 'zod';
import type { ChainedEntry } from './chain.js';
import { HEAD_TYPE, type HeadStatement } from './head.js';

const hash = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

const Entry = z.strictObject({
  seq: z.number().int().positive(),
  at: z.string(),
  actor: z.string(),
  tenantId: z.string().nullable(),
  action: z.string(),
  target: z.string(),
  ip: z.string(),
  before: z.unknown(),
  after: z.unknown(),
  prevHash: hash,
  hash,
});

const Head = z.strictObject({
  type: z.literal(HEAD_TYPE),
  entries: z.number().int().nonnegative(),
  head: hash,
  signedAt: z.string(),
  publicKey: z.string(),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'expected an Ed25519 signature in base64url'),
});

export type ExportLine = { kind: 'entry'; entry: ChainedEntry } | { kind: 'head'; statement: HeadStatement };

/** Parses one non-empty line; throws an Error saying what is wrong with it. */
export function parseExportLine(text: string): ExportLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('is not JSON (the export was cut off or changed)');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error('is not a JSON object (the export was changed)');
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) throw new Error(`has the key "${duplicate}" twice (the export was changed)`);
  const isHead = 'type' in value;
  const parsed = (isHead ? Head : Entry).safeParse(value);
  if (!parsed.success) throw new Error(`${describe(parsed.error)} (the export was changed)`);
  return isHead
    ? { kind: 'head', statement: parsed.data as HeadStatement }
    : { kind: 'entry', entry: parsed.data as ChainedEntry };
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return `has an unknown field "${issue.keys[0]}"`;
  return `has a bad field "${issue.path.join('.')}": ${issue.message}`;
}

/**
 * The first key that appears twice in one object of `json`, which must
 * already be valid JSON. Keys are compared decoded, so "a" and "\u0061" are
 * the same key, as they are to every parser.
 */
export function duplicateKey(json: string): string | undefined {
  const objects: (Set<string> | undefined)[] = [];
  let i = 0;
  while (i < json.length) {
    const c = json[i]!;
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const literal = json.slice(i, end + 1);
      i = end + 1;
      while (/\s/.test(json[i] ?? '')) i++;
      const keys = objects.at(-1);
      if (json[i] === ':' && keys) {
        const key = JSON.parse(literal) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      continue;
    }
    if (c === '{') objects.push(new Set());
    else if (c === '[') objects.push(undefined);
    else if (c === '}' || c === ']') objects.pop();
    i++;
  }
  return undefined;
}
