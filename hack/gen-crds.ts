// Writes crds/*.yaml from the TypeScript schema: `npx tsx hack/gen-crds.ts`.
// `--check` exits 1 when the files on disk differ from what would be written.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderCrds } from '../operator/api/render.js';

const root = path.resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [file, text] of renderCrds()) {
  const target = path.join(root, 'crds', file);
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current === text) continue;
  stale++;
  if (check) console.error(`${path.relative(root, target)} is stale: run npx tsx hack/gen-crds.ts`);
  else await writeFile(target, text);
}
if (check && stale > 0) process.exit(1);
if (!check) console.log(`crds/: ${stale} file(s) written`);
