// `holdfast audit verify <export.jsonl>`: checks an exported audit log
// offline, with nothing but this file and the export.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { verifyChain, type ChainedEntry } from './chain.js';

export async function* readExport(file: string): AsyncGenerator<ChainedEntry> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    try {
      yield JSON.parse(line) as ChainedEntry;
    } catch {
      throw new Error(`${file}:${n} is not a JSON audit entry`);
    }
  }
}

/** Exit code 0 when the chain is whole, 1 when it is broken; prints one line either way. */
export async function verifyExport(file: string, follows?: string): Promise<number> {
  const entries: ChainedEntry[] = [];
  for await (const e of readExport(file)) entries.push(e);
  const result = verifyChain(entries, follows);
  if (result.ok) {
    const first = entries[0];
    const last = entries[entries.length - 1];
    process.stdout.write(
      `audit log intact: ${result.entries} entries${first && last ? ` (${first.seq}–${last.seq}, ${first.at} to ${last.at})` : ''}, last hash ${result.lastHash}\n`,
    );
    return 0;
  }
  process.stdout.write(`audit log BROKEN at entry ${result.seq}: ${result.problem}\n`);
  return 1;
}
