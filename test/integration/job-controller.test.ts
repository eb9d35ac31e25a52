// The controller manager runs for real: a Job gets its Pod from the Job
// controller, and the Pod is admitted by the apiserver (it stays Pending
// until a node runs it).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConfig, eventually, testNamespace } from '../harness/kube.js';

describe('Job controller on the test control plane', () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const kc = adminConfig();
  beforeAll(async () => {
    ns = await testNamespace('job');
  });
  afterAll(async () => ns?.remove());

  it('creates the Pod of a Job', async () => {
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const job = await batch.createNamespacedJob({
      namespace: ns.name,
      body: {
        metadata: { name: 'probe' },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'main', image: 'holdfast/probe:test', command: ['true'] }],
            },
          },
        },
      },
    });
    const pod = await eventually('the Job controller to create a Pod', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `job-name=probe` });
      return pods.items[0];
    });
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Job', name: 'probe', uid: job.metadata?.uid });
    expect(pod.spec?.serviceAccountName).toBe('default');
    expect(pod.status?.phase).toBe('Pending');
    const status = await eventually('the Job to count an active pod', async () => {
      const j = await batch.readNamespacedJob({ name: 'probe', namespace: ns.name });
      return (j.status?.active ?? 0) > 0 ? j.status : undefined;
    });
    expect(status.active).toBe(1);
  });
});
