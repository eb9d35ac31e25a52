// holdfast audit verify FILE [--public-key KEY]: check an exported audit log (JSON Lines) offline.
import { parseArgs } from 'node:util';
import { verifyExport } from '../console/audit/verify-cli.js';

const USAGE =
  "usage: holdfast audit verify <export.jsonl> [--public-key ed25519:…]  (the key is on the console's audit page)\n";

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { 'public-key': { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [sub, file, ...rest] = parsed.positionals;
  if (sub !== 'verify' || !file || rest.length > 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  try {
    return await verifyExport(file, parsed.values['public-key']);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
}
