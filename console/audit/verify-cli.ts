// `holdfast audit verify <export.jsonl> [--public-key KEY]`: checks an
// exported audit log offline, with nothing but this file and the export.
import { readFile } from 'node:fs/promises';
import { parsePublicKey } from './head.js';
import { checkExport, report } from './verify.js';

/** Exit code 0 when the export is whole and signed, 1 when it is not; prints what it found either way. */
export async function verifyExport(file: string, publicKey?: string): Promise<number> {
  const pinned = publicKey === undefined ? undefined : parsePublicKey(publicKey);
  const verdict = checkExport((await readFile(file, 'utf8')).split(/\r?\n/), pinned);
  process.stdout.write(report(verdict));
  return verdict.ok ? 0 : 1;
}
