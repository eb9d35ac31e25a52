import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCrds } from '../../operator/api/render.js';

describe.each(['crds', 'charts/holdfast/crds'])('%s/', (dir) => {
  it.each(renderCrds())('%s matches the TypeScript schema (run: npx tsx hack/gen-crds.ts)', (file, text) => {
    const onDisk = readFileSync(path.resolve(import.meta.dirname, '../..', dir, file), 'utf8');
    expect(onDisk).toBe(text);
  });
});
