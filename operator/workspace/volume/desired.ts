// The workspace data volume and the encryption policy that guards it.
//
// A StorageClass counts as encrypted when the cluster admin says so:
//   - annotation holdfast.io/encrypted: "true" on the class (and "false"
//     overrides everything below), or
//   - a provisioner parameter that turns on encryption at rest:
//     encrypted: "true" (AWS EBS, Ceph RBD, OpenEBS and others),
//     kmsKeyId / diskEncryptionSetID / disk-encryption-kms-key (AWS, Azure and
//     GCE customer-managed keys).
import type { Workspace } from '../../api/workspace.js';
import type { KubeObject } from '../../../kube/rest.js';
import { ownedMeta } from '../owner.js';

export const DATA_CLAIM = 'data';
export const ENCRYPTED_ANNOTATION = 'holdfast.io/encrypted';
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
const KEY_PARAMETERS = ['kmsKeyId', 'diskEncryptionSetID', 'disk-encryption-kms-key'];

export interface StorageClass extends KubeObject {
  provisioner?: string;
  parameters?: Record<string, string>;
  allowVolumeExpansion?: boolean;
  volumeBindingMode?: string;
}

export interface ClassChoice {
  storageClass?: StorageClass;
  /** Why no class could be used; says what to change. */
  problem?: { reason: string; message: string };
}

export function chooseStorageClass(ws: Workspace, classes: readonly StorageClass[]): ClassChoice {
  const wanted = ws.spec.volume.storageClassName;
  if (wanted) {
    const found = classes.find((c) => c.metadata.name === wanted);
    if (found) return { storageClass: found };
    return {
      problem: {
        reason: 'StorageClassNotFound',
        message: `StorageClass "${wanted}" does not exist; create it or set spec.volume.storageClassName to one of: ${classes.map((c) => c.metadata.name).join(', ') || '(none in this cluster)'}`,
      },
    };
  }
  const defaults = classes.filter((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  if (defaults.length === 1) return { storageClass: defaults[0] };
  return {
    problem: {
      reason: 'NoDefaultStorageClass',
      message:
        defaults.length === 0
          ? 'spec.volume.storageClassName is empty and the cluster has no default StorageClass; name an encrypted class in spec.volume.storageClassName'
          : `spec.volume.storageClassName is empty and the cluster has ${defaults.length} default StorageClasses; name one in spec.volume.storageClassName`,
    },
  };
}

export function encryptionOf(sc: StorageClass): { encrypted: boolean; evidence: string } {
  const name = sc.metadata.name;
  const marked = sc.metadata.annotations?.[ENCRYPTED_ANNOTATION];
  if (marked === 'false')
    return { encrypted: false, evidence: `StorageClass "${name}" is annotated ${ENCRYPTED_ANNOTATION}: "false"` };
  if (marked === 'true')
    return { encrypted: true, evidence: `StorageClass "${name}" is annotated ${ENCRYPTED_ANNOTATION}: "true"` };
  const params = sc.parameters ?? {};
  if (params.encrypted?.toLowerCase() === 'true') {
    return { encrypted: true, evidence: `StorageClass "${name}" has parameter encrypted: "true"` };
  }
  const key = KEY_PARAMETERS.find((p) => params[p]);
  if (key) return { encrypted: true, evidence: `StorageClass "${name}" sets the encryption key parameter ${key}` };
  return {
    encrypted: false,
    evidence: `StorageClass "${name}" is not marked encrypted (annotation ${ENCRYPTED_ANNOTATION}: "true" or parameter encrypted: "true")`,
  };
}

export function desiredDataClaim(ws: Workspace, storageClassName: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: ownedMeta(ws, DATA_CLAIM, { labels: { 'holdfast.io/component': 'data' } }),
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName,
      resources: { requests: { storage: ws.spec.volume.size } },
    },
  };
}
