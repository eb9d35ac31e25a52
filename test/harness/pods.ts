// One-shot pods on the run's real node: a script in a locally built image,
// under Pod Security "restricted", to completion; its log comes back through
// the apiserver and the kubelet, as `kubectl logs` would get it.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { collectionPath, objectPath, Rest, type KubeObject } from '../../kube/rest.js';
import { APP_SECRET } from '../../operator/workspace/database/shared.js';
import { DATABASE_ACCESS_LABEL } from '../../operator/workspace/network/desired.js';
import { adminConfig, eventually } from './kube.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The run's real kubectl, as a user would call it. */
export async function kubectl(...args: string[]): Promise<string> {
  const dir = (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'kubernetes'])).stdout.trim();
  const { stdout } = await run(path.join(dir, 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
    maxBuffer: 16 << 20,
  });
  return stdout;
}

/** The PostgreSQL 17 image hack/images.sh builds: bash, psql, getent. */
export const CLIENT_IMAGE = 'localhost/holdfast-postgres:17';

export interface PodRun {
  phase: 'Succeeded' | 'Failed';
  log: string;
  /** From creation until the container was seen started (polled every 200 ms). */
  startMs: number;
}

export interface PodOptions {
  namespace: string;
  name: string;
  script: string;
  labels?: Record<string, string>;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  secretMounts?: { secretName: string; mountPath: string }[];
  timeoutMs?: number;
}

interface Pod extends KubeObject {
  status?: { phase?: string; containerStatuses?: { state?: { running?: object; terminated?: object } }[] };
}

export async function runPod(opts: PodOptions): Promise<PodRun> {
  const rest = new Rest(adminConfig());
  const mounts = opts.secretMounts ?? [];
  const created = Date.now();
  await rest.request('POST', collectionPath('Pod', opts.namespace), {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: opts.name, namespace: opts.namespace, labels: opts.labels ?? {} },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 1,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 999,
          runAsGroup: 999,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [
          {
            name: 'main',
            image: CLIENT_IMAGE,
            command: ['bash', '-c', opts.script],
            env: opts.env ?? [],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [
              { name: 'tmp', mountPath: '/tmp' },
              ...mounts.map((m, i) => ({ name: `secret-${i}`, mountPath: m.mountPath, readOnly: true })),
            ],
          },
        ],
        volumes: [
          { name: 'tmp', emptyDir: {} },
          ...mounts.map((m, i) => ({ name: `secret-${i}`, secret: { secretName: m.secretName } })),
        ],
      },
    },
  });
  const podPath = objectPath('Pod', opts.name, opts.namespace);
  let startMs = 0;
  const phase = await eventually(
    `pod ${opts.namespace}/${opts.name} to finish`,
    async () => {
      const pod = await rest.get<Pod>(podPath);
      const state = pod.status?.containerStatuses?.[0]?.state;
      if ((state?.running || state?.terminated) && !startMs) startMs = Date.now() - created;
      const p = pod.status?.phase;
      return p === 'Succeeded' || p === 'Failed' ? p : undefined;
    },
    opts.timeoutMs ?? 60_000,
  );
  const log = await kubectl('logs', '-n', opts.namespace, opts.name).catch(
    (err: unknown) => `(no log: ${String(err)})`,
  );
  await rest.request('DELETE', podPath, { query: { gracePeriodSeconds: '0' } }).catch(() => undefined);
  return { phase, log, startMs };
}

/**
 * A pod of the workspace's own namespace, let in by the database policy,
 * that runs `psql "$DATABASE_URL" <psqlArgs>` as an application would: the
 * db-app Secret's URI (verify-full) and CA. A new pod is missing from
 * kube-router's allow-lists for up to a second, so it tries for 10 s.
 */
export function appClientPod(namespace: string, name: string, psqlArgs: string): Promise<PodRun> {
  return runPod({
    namespace,
    name,
    labels: { [DATABASE_ACCESS_LABEL]: 'true' },
    env: [
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: APP_SECRET, key: 'uri' } } },
      { name: 'PGSSLROOTCERT', value: '/etc/db/ca.crt' },
      { name: 'PGCONNECT_TIMEOUT', value: '3' },
    ],
    secretMounts: [{ secretName: APP_SECRET, mountPath: '/etc/db' }],
    script: `for i in $(seq 40); do
        psql "$DATABASE_URL" ${psqlArgs} && exit 0
        sleep 0.25
      done; exit 1`,
  });
}
