// The user's path with the real kubectl: apply the README's example and read
// `kubectl get ws`.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { parse, stringify } from 'yaml';
import { kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { TEST_LABEL, Workspaces } from '../harness/workspaces.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('kubectl', () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  beforeAll(async () => {
    await installCrds();
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
  });
  afterAll(async () => operator?.stop());

  it('applies the README example and shows it Ready in kubectl get ws', async () => {
    const example = parse(await readFile(path.join(root, 'examples/workspace.yaml'), 'utf8')) as {
      metadata: { name: string; labels?: Record<string, string> };
      spec: { volume: Record<string, unknown> };
    };
    const name = uniqueName('acme');
    example.metadata = { name, labels: { [TEST_LABEL]: w.run } };
    example.spec.volume.storageClassName = await w.storageClass({ encrypted: true });
    const file = path.join(inject('controlPlaneDir'), `${name}.yaml`);
    await writeFile(file, stringify(example));

    expect(await kubectl('apply', '-f', file)).toContain(`workspace.holdfast.io/${name} created`);
    await w.waitForCondition(name, 'Ready', 'True');

    const table = (await kubectl('get', 'ws', name)).trim().split('\n');
    expect(table[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'PHASE',
      'MODE',
      'READY',
      'LAST BACKUP',
      'LAST VERIFIED',
      'AGE',
    ]);
    expect(table[1]).toMatch(new RegExp(`^${name}\\s+Ready\\s+Dedicated\\s+True\\s+`));
    const wide = await kubectl('get', 'workspaces.holdfast.io', name, '-o', 'wide');
    expect(wide).toMatch(/REASON\s+NAMESPACE/);
    expect(wide).toContain(`ws-${name}`);

    const described = await kubectl('describe', 'ws', name);
    expect(described).toMatch(/Normal\s+Provisioned/);
  });
});
