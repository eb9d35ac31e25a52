// The real CloudNativePG operator on the run's node, installed from the
// release manifest its Go module ships (hack/build-tools.sh cloudnative-pg),
// as a platform admin would apply it, with two local changes: the image is
// the one hack/images.sh built (never pulled), and it watches only the
// namespaces a test names, so that other files' Clusters stay paper objects.
// Its admission webhooks stay as shipped: cluster-wide, failing closed.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { objectPath, Rest } from '../../kube/rest.js';
import { adminConfig, eventually } from './kube.js';
import { kubectl } from './pods.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The PostgreSQL image prefix for HOLDFAST_CNPG_IMAGE: hack/images.sh's `cnpg-postgres-17`. */
export const LOCAL_CNPG_POSTGRES = 'localhost/cloudnative-pg-postgresql';
export const CNPG_NAMESPACE = 'cnpg-system';

interface Doc {
  kind: string;
  metadata: { name: string };
  spec?: {
    template: {
      spec: { containers: { image: string; imagePullPolicy?: string; env?: { name: string; value?: string }[] }[] };
    };
  };
}

export interface InstalledCloudNativePG {
  version: string;
  /** Deletes the operator and its webhooks; the CRDs stay, as other files' objects use them. */
  remove(): Promise<void>;
}

export async function installCloudNativePG(watchNamespaces: string[]): Promise<InstalledCloudNativePG> {
  const versions = await readFile(path.join(root, 'hack/versions.env'), 'utf8');
  const version = /^CLOUDNATIVE_PG_VERSION=(\S+)$/m.exec(versions)![1]!;
  const dir = (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'cloudnative-pg'])).stdout.trim();
  const docs = parseAllDocuments(await readFile(path.join(dir, `cnpg-${version}.yaml`), 'utf8'))
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
  const image = `localhost/cloudnative-pg:${version}`;
  for (const d of docs) {
    if (d.kind !== 'Deployment') continue;
    for (const c of d.spec!.template.spec.containers) {
      c.image = image;
      c.imagePullPolicy = 'IfNotPresent';
      c.env = [
        ...(c.env ?? []).map((e) => (e.name === 'OPERATOR_IMAGE_NAME' ? { ...e, value: image } : e)),
        { name: 'WATCH_NAMESPACE', value: watchNamespaces.join(',') },
      ];
    }
  }
  const manifest = path.join(inject('controlPlaneDir'), `cnpg-${version}.yaml`);
  await writeFile(manifest, docs.map((d) => stringify(d)).join('---\n'));
  // The Cluster CRD is too large for client-side apply's annotation.
  await kubectl('apply', '--server-side', '--force-conflicts', '--field-manager=holdfast-test', '-f', manifest);

  const rest = new Rest(adminConfig());
  await eventually(
    'the CloudNativePG operator to be available with its webhooks',
    async () => {
      const deploy = await rest.get<{ status?: { availableReplicas?: number } }>(
        objectPath('Deployment', 'cnpg-controller-manager', CNPG_NAMESPACE),
      );
      if (!deploy.status?.availableReplicas) return undefined;
      // The operator makes its own CA at start and writes it into the webhook configurations.
      const hooks = await rest.get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(
        '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/cnpg-validating-webhook-configuration',
      );
      return hooks.webhooks.every((h) => h.clientConfig.caBundle) ? true : undefined;
    },
    120_000,
  );
  return {
    version,
    async remove() {
      for (const p of [
        '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/cnpg-validating-webhook-configuration',
        '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cnpg-mutating-webhook-configuration',
        objectPath('Deployment', 'cnpg-controller-manager', CNPG_NAMESPACE),
      ])
        await rest.request('DELETE', p).catch(() => undefined);
    },
  };
}
