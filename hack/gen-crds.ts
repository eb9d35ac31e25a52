// Writes crds/*.yaml from the TypeScript schema, and the chart's copy in
// charts/holdfast/crds/ (Helm installs CRDs only from inside the chart):
// `npx tsx hack/gen-crds.ts`.
// `--check` exits 1 when the files on disk differ from what would be written.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderCrds } from '../operator/api/render.js';

const root = path.resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [file, text] of renderCrds().flatMap(([f, t]) => [
  [path.join('crds', f), t] as const,
  [path.join('charts/holdfast/crds', f), t] as const,
])) {
  const target = path.join(root, file);
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current === text) continue;
  stale++;
  if (check) console.error(`${path.relative(root, target)} is stale: run npx tsx hack/gen-crds.ts`);
  else await writeFile(target, text);
}
if (check && stale > 0) process.exit(1);
if (!check) console.log(`crds/ and charts/holdfast/crds/: ${stale} file(s) written`);
