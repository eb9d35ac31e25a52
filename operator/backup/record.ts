// Keeps a backup's `Backup` resource current as the job runs: created when the
// backup starts (or taken over when someone created it to ask for one), its
// status patched as copies are stored or fail, and at the end.
import { BACKUP_API, BACKUP_KIND, TAKEN_BY_ANNOTATION, type BackupReason } from '../api/backup.js';
import { MERGE_PATCH, collectionPath, isConflict, objectPath, type Rest } from '../../kube/rest.js';
import type { BackupProgress, BackupRecorder } from './runner.js';

export const WORKSPACE_LABEL = 'holdfast.io/workspace';

export class KubeBackupRecorder implements BackupRecorder {
  private created = false;

  constructor(
    private readonly rest: Rest,
    private readonly namespace: string,
    private readonly name: string,
    private readonly workspace: string,
    private readonly reason: BackupReason,
    /** The Job whose pod takes it, so that the operator can tell when that Job ends without it. */
    private readonly job?: string,
  ) {}

  async update(progress: BackupProgress): Promise<void> {
    if (!this.created) {
      await this.rest
        .request('POST', collectionPath('Backup', this.namespace), {
          body: {
            apiVersion: BACKUP_API,
            kind: BACKUP_KIND,
            metadata: {
              name: this.name,
              namespace: this.namespace,
              labels: { [WORKSPACE_LABEL]: this.workspace, 'app.kubernetes.io/managed-by': 'holdfast' },
              annotations: { [TAKEN_BY_ANNOTATION]: this.job ?? 'holdfast backup' },
            },
            spec: { workspace: this.workspace, reason: this.reason },
          },
        })
        .catch((err: unknown) => {
          // Asked for by someone who created it: this job fills it in.
          if (!isConflict(err)) throw err;
        });
    }
    // The first write of this run clears what an earlier, killed pod of the same Job left.
    const first = this.created ? {} : { message: null, completedAt: null, ...(this.job ? { job: this.job } : {}) };
    this.created = true;
    await this.rest.request('PATCH', `${objectPath('Backup', this.name, this.namespace)}/status`, {
      body: { status: { ...first, ...progress } },
      contentType: MERGE_PATCH,
    });
  }
}
