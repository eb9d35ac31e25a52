// Until the test kubelet runs pods as local processes, nothing runs the
// database pods of the control plane under test. This reports each one
// Running and Ready, as a kubelet would once PostgreSQL passed its readiness
// probe, so that the StatefulSet controller (real) counts it and the
// operator sees a ready database. It runs nothing and touches only pods
// labelled holdfast.io/component=database.
import type { KubeConfig } from '@kubernetes/client-node';
import { Rest } from '../../kube/rest.js';

interface Pod {
  metadata: { name: string; namespace: string; deletionTimestamp?: string };
  spec: { containers: { name: string; image: string }[] };
  status?: { phase?: string };
}

export function standInKubelet(kc: KubeConfig, intervalMs = 300): { stop: () => void } {
  const rest = new Rest(kc);
  let stopped = false;
  const tick = async () => {
    const pods = await rest.get<{ items: Pod[] }>('/api/v1/pods', { labelSelector: 'holdfast.io/component=database' });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    for (const pod of pods.items) {
      if (pod.status?.phase === 'Running' || pod.metadata.deletionTimestamp) continue;
      const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
      await rest
        .request('PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
          contentType: 'application/merge-patch+json',
          body: {
            status: {
              phase: 'Running',
              startTime: now,
              conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(condition),
              containerStatuses: pod.spec.containers.map((c) => ({
                name: c.name,
                image: c.image,
                imageID: '',
                ready: true,
                started: true,
                restartCount: 0,
                state: { running: { startedAt: now } },
              })),
            },
          },
        })
        .catch(() => undefined); // the pod may be gone by now
    }
  };
  const loop = async () => {
    while (!stopped) {
      await tick().catch(() => undefined);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  void loop();
  return { stop: () => void (stopped = true) };
}
