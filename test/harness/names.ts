import { randomBytes } from 'node:crypto';

/**
 * A DNS-1123 label that no other test in this run will use: `prefix-xxxxxx`.
 * Tests share one apiserver, so every object they create gets one of these.
 */
export function uniqueName(prefix: string): string {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return `${base || 'x'}-${randomBytes(4).toString('hex')}`;
}
