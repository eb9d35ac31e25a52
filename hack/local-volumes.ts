// The local node's volume provisioner: every claim of a StorageClass whose
// provisioner is holdfast.io/local-path gets a `local` PersistentVolume, a
// folder under --dir on this machine, pinned to the node. `local` (not
// hostPath) so that the kubelet applies the pod's fsGroup to it, as it does
// to a cloud disk. A released volume whose class says Delete is removed with
// its folder. hack/node.sh runs it; it writes <dir>/.ready once it watches.
//
//   node --import tsx hack/local-volumes.ts --node NAME --dir DIR   (KUBECONFIG from the environment)
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Informer } from '../kube/informer.js';
import { createLogger } from '../kube/log.js';
import { collectionPath, isConflict, isNotFound, objectPath, Rest, type KubeObject } from '../kube/rest.js';

export const LOCAL_PROVISIONER = 'holdfast.io/local-path';
const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

interface StorageClass extends KubeObject {
  provisioner: string;
  reclaimPolicy?: string;
  volumeBindingMode?: string;
}
interface Claim extends KubeObject {
  spec: {
    storageClassName?: string;
    accessModes?: string[];
    volumeMode?: string;
    volumeName?: string;
    resources?: { requests?: { storage?: string } };
  };
  status?: { phase?: string };
}
interface Volume extends KubeObject {
  spec: { persistentVolumeReclaimPolicy?: string; local?: { path: string }; [field: string]: unknown };
  status?: { phase?: string };
}

/** The volume for a claim: one folder, on this node only, bound to that claim. */
export function desiredVolume(claim: Claim, sc: StorageClass, node: string, dir: string): Volume {
  const name = `pvc-${claim.metadata.uid}`;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, annotations: { [PROVISIONED_BY]: LOCAL_PROVISIONER } },
    spec: {
      capacity: { storage: claim.spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: claim.spec.accessModes ?? ['ReadWriteOnce'],
      volumeMode: claim.spec.volumeMode ?? 'Filesystem',
      persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
      storageClassName: sc.metadata.name,
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: claim.metadata.namespace,
        name: claim.metadata.name,
        uid: claim.metadata.uid,
      },
      local: { path: path.join(dir, name) },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
    },
  };
}

/** Whether this provisioner should make a volume for the claim now. */
export function wantsVolume(claim: Claim, sc: StorageClass | undefined, node: string): boolean {
  if (!sc || sc.provisioner !== LOCAL_PROVISIONER) return false;
  if (claim.metadata.deletionTimestamp || claim.spec.volumeName || claim.status?.phase !== 'Pending') return false;
  // WaitForFirstConsumer: the scheduler names the node once a pod needs the claim.
  if (sc.volumeBindingMode === 'WaitForFirstConsumer') return claim.metadata.annotations?.[SELECTED_NODE] === node;
  return true;
}

export class LocalVolumes {
  private readonly rest: Rest;
  private readonly classes: Informer<StorageClass>;
  private readonly claims: Informer<Claim>;
  private readonly volumes: Informer<Volume>;
  private syncing: Promise<void> | undefined;
  private again = false;

  constructor(
    kc: KubeConfig,
    private readonly node: string,
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    this.rest = new Rest(kc);
    this.classes = new Informer<StorageClass>(kc, { kind: 'StorageClass' }, log);
    this.claims = new Informer<Claim>(kc, { kind: 'PersistentVolumeClaim' }, log);
    this.volumes = new Informer<Volume>(kc, { kind: 'PersistentVolume' }, log);
    for (const informer of [this.classes, this.claims, this.volumes]) informer.onChange(() => this.kick());
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await Promise.all([this.classes.start(), this.claims.start(), this.volumes.start()]);
    this.kick();
    await this.syncing;
  }

  async stop(): Promise<void> {
    await Promise.all([this.classes.stop(), this.claims.stop(), this.volumes.stop()]);
    await this.syncing;
  }

  /** One sync at a time; a change during a sync runs one more. */
  private kick(): void {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        await this.sync().catch((err: unknown) => this.log.error({ err: String(err) }, 'sync failed'));
      } while (this.again);
      this.syncing = undefined;
    })();
  }

  private async sync(): Promise<void> {
    for (const claim of this.claims.list()) {
      const sc = this.classes.get(claim.spec.storageClassName ?? '');
      if (!wantsVolume(claim, sc, this.node) || !sc) continue;
      const pv = desiredVolume(claim, sc, this.node, this.dir);
      if (this.volumes.get(pv.metadata.name)) continue;
      const folder = pv.spec.local!.path;
      await mkdir(folder, { recursive: true });
      // Open to every user, as a fresh disk's root would be after mkfs; the
      // kubelet gives it the pod's fsGroup.
      await chmod(folder, 0o777);
      try {
        await this.rest.request('POST', collectionPath('PersistentVolume'), { body: pv });
        this.log.info(
          { claim: `${claim.metadata.namespace}/${claim.metadata.name}`, volume: pv.metadata.name },
          'provisioned',
        );
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    for (const pv of this.volumes.list()) {
      if (pv.metadata.annotations?.[PROVISIONED_BY] !== LOCAL_PROVISIONER) continue;
      if (pv.status?.phase !== 'Released' || pv.spec.persistentVolumeReclaimPolicy !== 'Delete') continue;
      const folder = pv.spec.local?.path;
      // Only folders this provisioner made: the name is ours, under our dir.
      if (folder && path.dirname(folder) === this.dir) await rm(folder, { recursive: true, force: true });
      try {
        await this.rest.request('DELETE', objectPath('PersistentVolume', pv.metadata.name));
        this.log.info({ volume: pv.metadata.name }, 'deleted');
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { node: { type: 'string' }, dir: { type: 'string' } } });
  if (!values.node || !values.dir) throw new Error('usage: local-volumes.ts --node NAME --dir DIR');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const dir = path.resolve(values.dir);
  const provisioner = new LocalVolumes(kc, values.node, dir, createLogger('local-volumes'));
  await provisioner.start();
  await writeFile(path.join(dir, '.ready'), '');
  const stop = () => void provisioner.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
