// Backup destinations as a platform admin declares them for the node tests:
// the S3 server reached by pods on the node's own address (as an object
// store outside the cluster would be), its credentials in a Secret of a
// namespace of their own, and volumes in each workspace namespace.
// `remove()` deletes all it made.
import { collectionPath, objectPath, type Rest } from '../../kube/rest.js';
import { uniqueName } from './names.js';
import type { TestS3 } from './s3.js';

export class TestDestinations {
  private readonly made: string[] = [];
  /** Where the credentials Secrets are; tests put other Secrets the operator reads here too. */
  readonly credentialsNamespace = uniqueName('holdfast-creds');
  private namespaceMade = false;

  constructor(private readonly rest: Rest) {}

  /** The node's InternalIP: pods reach servers on this machine there. */
  async nodeIp(): Promise<string> {
    const nodes = await this.rest.get<{
      items: { status: { addresses: { type: string; address: string }[] } }[];
    }>('/api/v1/nodes');
    return nodes.items[0]!.status.addresses.find((a) => a.type === 'InternalIP')!.address;
  }

  async credentialsSecret(name: string, data: Record<string, string>): Promise<void> {
    if (!this.namespaceMade) {
      await this.rest.request('POST', collectionPath('Namespace'), {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.credentialsNamespace } },
      });
      this.namespaceMade = true;
    }
    await this.rest.request('POST', collectionPath('Secret', this.credentialsNamespace), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data },
    });
  }

  /** A BackupDestination for a bucket of the S3 server (started on 0.0.0.0); returns its name. */
  async s3(s3: TestS3, bucket: string, opts: { prefix?: string; name?: string } = {}): Promise<string> {
    const name = opts.name ?? uniqueName('offsite');
    await this.credentialsSecret(`${name}-s3`, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    await this.create(name, {
      s3: {
        endpoint: `http://${await this.nodeIp()}:${s3.port}`,
        bucket,
        ...(opts.prefix ? { prefix: opts.prefix } : {}),
        credentialsSecretRef: { name: `${name}-s3`, namespace: this.credentialsNamespace },
      },
    });
    return name;
  }

  /** A BackupDestination that is a volume of its own in each workspace namespace; returns its name. */
  async volume(storageClassName: string, opts: { name?: string; size?: string } = {}): Promise<string> {
    const name = opts.name ?? uniqueName('local');
    await this.create(name, { volume: { size: opts.size ?? '1Gi', storageClassName } });
    return name;
  }

  async remove(): Promise<void> {
    for (const name of this.made)
      await this.rest.request('DELETE', objectPath('BackupDestination', name)).catch(() => undefined);
    if (this.namespaceMade)
      await this.rest.request('DELETE', objectPath('Namespace', this.credentialsNamespace)).catch(() => undefined);
  }

  private async create(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.rest.request('POST', collectionPath('BackupDestination'), {
      body: { apiVersion: 'holdfast.io/v1alpha1', kind: 'BackupDestination', metadata: { name }, spec },
    });
    this.made.push(name);
  }
}
