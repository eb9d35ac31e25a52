// Decides what to do about the data volume from gathered inputs; no I/O.
import type { Workspace } from '../../api/workspace.js';
import type { KubeObject } from '../../../kube/rest.js';
import type { ConditionInput } from '../conditions.js';
import { chooseStorageClass, desiredDataClaim, encryptionOf, type StorageClass } from './desired.js';

export interface VolumeInput {
  ws: Workspace;
  classes: readonly StorageClass[];
  claim: KubeObject | undefined;
}

export interface VolumeDecision {
  /** The claim to apply; undefined when policy forbids creating it. */
  desired?: KubeObject;
  conditions: ConditionInput[];
  storageClassName?: string;
  encrypted: boolean;
  /** Something the user must change; recorded as a Warning Event. */
  warning?: { reason: string; message: string };
}

export function decideVolume({ ws, classes, claim }: VolumeInput): VolumeDecision {
  const required = ws.spec.volume.encryption === 'Required';
  const choice = chooseStorageClass(ws, classes);
  if (!choice.storageClass) {
    const problem = choice.problem!;
    return {
      encrypted: false,
      conditions: [
        { type: 'VolumeEncrypted', status: 'False', reason: problem.reason, message: problem.message },
        { type: 'VolumeReady', status: 'False', reason: problem.reason, message: problem.message },
      ],
      warning: problem,
    };
  }
  const sc = choice.storageClass;
  const className = sc.metadata.name;
  const { encrypted, evidence } = encryptionOf(sc);
  if (!encrypted && required && !claim) {
    const message = `${evidence}; set spec.volume.storageClassName to an encrypted class, ask the cluster admin to annotate "${className}" with holdfast.io/encrypted: "true" if it encrypts at rest, or set spec.volume.encryption: Preferred`;
    return {
      storageClassName: className,
      encrypted: false,
      conditions: [
        { type: 'VolumeEncrypted', status: 'False', reason: 'ClassNotEncrypted', message },
        {
          type: 'VolumeReady',
          status: 'False',
          reason: 'EncryptionRequired',
          message: 'no volume was created: spec.volume.encryption is Required and the class is not encrypted',
        },
      ],
      warning: { reason: 'VolumeNotEncrypted', message },
    };
  }
  const conditions: ConditionInput[] = [];
  let warning: VolumeDecision['warning'];
  if (encrypted) {
    conditions.push({ type: 'VolumeEncrypted', status: 'True', reason: 'ClassEncrypted', message: evidence });
  } else {
    const message =
      claim && required
        ? `${evidence}; the existing volume is kept, but it no longer meets spec.volume.encryption: Required`
        : `${evidence}; proceeding because spec.volume.encryption is Preferred`;
    conditions.push({ type: 'VolumeEncrypted', status: 'False', reason: 'ClassNotEncrypted', message });
    warning = { reason: 'VolumeNotEncrypted', message };
  }

  const desired = desiredDataClaim(ws, className);
  const phase = (claim?.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Bound') {
    conditions.push({
      type: 'VolumeReady',
      status: 'True',
      reason: 'Bound',
      message: `PersistentVolumeClaim data is bound (${ws.spec.volume.size}, class ${className})`,
    });
  } else if (sc.volumeBindingMode === 'WaitForFirstConsumer') {
    conditions.push({
      type: 'VolumeReady',
      status: 'True',
      reason: 'WaitingForFirstConsumer',
      message: `PersistentVolumeClaim data is created; class ${className} provisions it when the database first starts`,
    });
  } else {
    conditions.push({
      type: 'VolumeReady',
      status: 'False',
      reason: claim ? 'Pending' : 'Creating',
      message: claim
        ? `PersistentVolumeClaim data is ${phase ?? 'Pending'}: no PersistentVolume of class ${className} is bound to it yet; check the class's provisioner`
        : 'creating PersistentVolumeClaim data',
    });
  }
  return { desired, conditions, storageClassName: className, encrypted, warning };
}
