import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export interface BadWorkspace {
  case: string;
  name?: string;
  spec: Record<string, unknown>;
  then?: Record<string, unknown>;
  expect: string;
}

export function badWorkspaces(): BadWorkspace[] {
  const file = path.resolve(import.meta.dirname, '../fixtures/bad-workspaces.yaml');
  return parse(readFileSync(file, 'utf8')) as BadWorkspace[];
}
