// A control plane of a test's (or a benchmark's) own, beside the run's shared
// one: for work that crashes or floods it. It has Holdfast's CRDs and, once
// `sharedServer` is called, a SharedDatabaseServer on the harness PostgreSQL
// with an encrypted StorageClass of the same name. No node: a Shared
// workspace needs no pod, and its volume class binds on first use.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { allCrds } from '../../operator/api/crd.js';
import { APPLY_PATCH } from '../../kube/apply.js';
import { Rest, collectionPath, pathOf, type KubeObject } from '../../kube/rest.js';
import { LOCAL_PROVISIONER } from '../../hack/local-volumes.js';
import type { TestPostgres } from './postgres.js';
import { sharedServerObjects } from './shared-server.js';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../hack/control-plane.sh');

/** Where the operator keeps its own Secrets, as the chart installs it. */
export const OPERATOR_NAMESPACE = 'holdfast-system';

export interface OwnControlPlane {
  dir: string;
  kubeconfig: string;
  kc: k8s.KubeConfig;
  rest: Rest;
  /** Server-side apply, forced, as `manager`. */
  apply(obj: KubeObject, manager?: string): Promise<unknown>;
  /** `hack/control-plane.sh COMMAND DIR ARGS...`: crash or restart components. */
  control(command: 'crash' | 'restart', ...components: string[]): Promise<void>;
  /**
   * A SharedDatabaseServer `name` on `pg`, its admin and CA Secrets in the
   * operator's namespace, and an encrypted StorageClass `name`.
   */
  sharedServer(pg: TestPostgres, name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnControlPlane(prefix: string): Promise<OwnControlPlane> {
  const dir = await mkdtemp(path.join(tmpdir(), `holdfast-${prefix}-`));
  const { stdout } = await run(script, ['start', dir, '--owner-pid', String(process.pid)]);
  const kubeconfig = stdout.trim().split('\n').at(-1)!;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const rest = new Rest(kc);
  const apply = (obj: KubeObject, manager = 'harness') =>
    rest.request('PATCH', pathOf(obj), {
      body: obj,
      contentType: APPLY_PATCH,
      query: { fieldManager: manager, force: 'true' },
    });
  for (const crd of allCrds()) await apply(crd as unknown as KubeObject);
  for (let i = 0; ; i++) {
    const served = await rest.get(collectionPath('Workspace')).then(
      () => true,
      () => false,
    );
    if (served) break;
    if (i > 300) throw new Error('the Workspace CRD was not served within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } });

  return {
    dir,
    kubeconfig,
    kc,
    rest,
    apply,
    async control(command, ...components) {
      await run(script, [command, dir, ...components]);
    },
    async sharedServer(pg, name) {
      await apply({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name, annotations: { 'holdfast.io/encrypted': 'true' } },
        provisioner: LOCAL_PROVISIONER,
        volumeBindingMode: 'WaitForFirstConsumer',
      });
      for (const obj of sharedServerObjects(pg, name, OPERATOR_NAMESPACE)) await apply(obj);
    },
    async stop() {
      await run(script, ['stop', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
