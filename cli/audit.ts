// holdfast audit verify FILE [HASH]: check an exported audit log (JSON Lines) offline.
import { verifyExport } from '../console/audit/verify-cli.js';

export async function run([sub, file, follows]: string[]): Promise<number> {
  if (sub !== 'verify' || !file) {
    process.stderr.write('usage: holdfast audit verify <export.jsonl> [hash-the-export-must-follow]\n');
    return 2;
  }
  return verifyExport(file, follows);
}
