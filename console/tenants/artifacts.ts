// A backup's artifact, downloaded by a tenant admin: streamed from an S3
// BackupDestination as it is stored there, still age-encrypted (the tenant
// decrypts it with its own key, or the escrow key). The console reads the
// destination's credentials Secret only where the chart lets it
// (console.artifactDownloads.credentialsSecrets), and keeps nothing.
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { NotFound, requireTenant, type Viewer } from '../access.js';
import { appendAudit } from '../audit/log.js';
import type { Client } from '../auth/sign-in.js';
import type { ConsoleDb } from '../db/client.js';
import { ApiError } from '../../kube/rest.js';
import type { WorkspaceApi } from '../workspaces.js';
import type { Tenants } from './service.js';
import { Unavailable, WorkspaceRefused, reachable } from './workspaces.js';

export interface Artifact {
  body: Readable;
  /** Bytes, when the store said. */
  size?: number;
  /** The name to save it under, as stored: `<backup>.dump.age`. */
  filename: string;
}

const decode = (v: string | undefined) => (v ? Buffer.from(v, 'base64').toString('utf8') : undefined);

export class Artifacts {
  constructor(
    private readonly db: ConsoleDb,
    private readonly tenants: Tenants,
    private readonly api: WorkspaceApi | undefined,
  ) {}

  /**
   * The stored copy of `backup` at `destination`, for a tenant admin (or
   * platform admin) of the tenant. `signal` ends the download from the store
   * when the person goes away.
   */
  async open(
    viewer: Viewer,
    tenantId: string,
    backup: string,
    destination: string,
    client: Client,
    signal?: AbortSignal,
  ): Promise<Artifact> {
    requireTenant(viewer, tenantId, true);
    const tenant = await this.tenants.get(viewer, tenantId);
    const api = reachable(this.api);
    const ws = await api.cached(tenant.workspace);
    if (!ws) throw new NotFound(`there is no Workspace ${tenant.workspace}`);
    const found = (await api.backupsOf(ws)).find((b) => b.metadata.name === backup);
    if (!found) throw new NotFound(`no backup "${backup}" in the log of ${tenantId}`);
    const copy = found.status?.copies?.find((c) => c.destination === destination);
    const artifact = found.status?.artifact;
    if (!artifact || copy?.phase !== 'Stored')
      throw new NotFound(`backup ${backup} has no stored copy at ${destination}`);
    const spec = await api.destination(destination);
    if (!spec) throw new NotFound(`BackupDestination ${destination} no longer exists`);
    if (!spec.s3)
      throw new WorkspaceRefused(
        `the copy at ${destination} is on a volume in namespace ${found.metadata.namespace}, which the console cannot read; download the copy at an S3 destination, or copy the file from that volume`,
        {},
        409,
      );
    const s3 = spec.s3;
    const secret = async (ref: { namespace: string; name: string }) => {
      try {
        return await api.secret(ref.namespace, ref.name);
      } catch (err) {
        if (err instanceof ApiError && err.code === 403)
          throw new Unavailable(
            viewer.role === 'platform-admin'
              ? `the console may not read Secret ${ref.namespace}/${ref.name} of BackupDestination ${destination}; list it under console.artifactDownloads.credentialsSecrets in the chart's values to allow downloads`
              : `downloads from ${destination} are not enabled; ask a platform administrator to allow them (console.artifactDownloads in the chart's values)`,
          );
        throw err;
      }
    };
    const credentials = await secret(s3.credentialsSecretRef);
    const accessKeyId = decode(credentials?.data?.accessKeyId);
    const secretAccessKey = decode(credentials?.data?.secretAccessKey);
    if (!accessKeyId || !secretAccessKey)
      throw new Unavailable(
        `Secret ${s3.credentialsSecretRef.namespace}/${s3.credentialsSecretRef.name} of BackupDestination ${destination} must hold accessKeyId and secretAccessKey`,
      );
    const ca = s3.caSecretRef ? decode((await secret(s3.caSecretRef))?.data?.['ca.crt']) : undefined;
    const store = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region ?? 'us-east-1',
      forcePathStyle: s3.forcePathStyle ?? true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(ca ? { requestHandler: { httpsAgent: new HttpsAgent({ ca }) } } : {}),
    });
    const key = `${s3.prefix ?? ''}${artifact}`;
    let body: Readable;
    let object;
    try {
      object = await store.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }), { abortSignal: signal });
      body = object.Body as Readable;
    } catch (err) {
      store.destroy();
      if (err instanceof NoSuchKey)
        throw new NotFound(`s3://${s3.bucket}/${key} is not at ${destination} any more (pruned, or removed there)`);
      throw new Unavailable(`${destination} did not give s3://${s3.bucket}/${key}: ${(err as Error).message}`);
    }
    // The client and its sockets live as long as this one download.
    body.once('close', () => store.destroy());
    try {
      await this.db.transaction((tx) =>
        appendAudit(tx, {
          actor: viewer.email,
          tenantId,
          action: 'backup.downloaded',
          target: `backup/${backup}`,
          ip: client.ip,
          after: { destination, object: `s3://${s3.bucket}/${key}` },
        }),
      );
    } catch (err) {
      // No download that the audit log does not record.
      body.destroy();
      throw err;
    }
    if (signal?.aborted) body.destroy();
    return {
      body,
      ...(object.ContentLength !== undefined ? { size: object.ContentLength } : {}),
      filename: artifact.split('/').pop()!,
    };
  }
}
