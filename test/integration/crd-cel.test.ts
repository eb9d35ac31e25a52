// The test apiserver is real: it installs a CRD, serves and watches custom
// resources, and enforces CEL validation rules with its own messages.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConfig, eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';

const group = `${uniqueName('probe')}.holdfast.test`;
const plural = 'gadgets';
const crd: k8s.V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural, singular: 'gadget', kind: 'Gadget' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: { min: { type: 'integer' }, max: { type: 'integer' } },
                x_kubernetes_validations: [
                  { rule: 'self.min <= self.max', message: 'spec.min must not exceed spec.max' },
                ],
              },
            },
          },
        },
      },
    ],
  },
};

describe('custom resources on the test apiserver', () => {
  const kc = adminConfig();
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const namespace = 'default';

  beforeAll(async () => {
    await ext.createCustomResourceDefinition({ body: crd });
    await eventually('CRD Established', async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
  });
  afterAll(async () => {
    await ext.deleteCustomResourceDefinition({ name: crd.metadata!.name! }).catch(() => undefined);
  });

  it('creates a custom resource and delivers it to a watcher', async () => {
    const name = uniqueName('g');
    const events: { type: string; name: string | undefined; max: unknown }[] = [];
    const watchState: { error?: Error } = {};
    // Right after a CRD is established the apiserver may answer a watch with
    // 429 while its watch cache initialises; clients retry, as informers do.
    const watch = await eventually('an open watch', async () => {
      delete watchState.error;
      const req = await new k8s.Watch(kc).watch(
        `/apis/${group}/v1/namespaces/${namespace}/${plural}`,
        {},
        (type: string, obj: k8s.KubernetesObject & { spec?: { max?: unknown } }) =>
          events.push({ type, name: obj.metadata?.name, max: obj.spec?.max }),
        (err: unknown) => {
          if (err) watchState.error = err instanceof Error ? err : new Error(JSON.stringify(err));
        },
      );
      const failed = watchState.error as Error | undefined; // set by the callback during the await
      if (failed) throw failed;
      return req;
    });
    try {
      // Created only once the watch is open, so the event cannot be missed.
      await custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace,
        plural,
        body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name }, spec: { min: 1, max: 3 } },
      });
      const added = await eventually('ADDED event', async () => {
        if (watchState.error) throw watchState.error;
        return events.find((e) => e.name === name);
      });
      expect(added).toEqual({ type: 'ADDED', name, max: 3 });
    } finally {
      watch.abort();
    }
  });

  it('rejects an object that breaks a CEL rule, with the rule message', async () => {
    const err = await custom
      .createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace,
        plural,
        body: {
          apiVersion: `${group}/v1`,
          kind: 'Gadget',
          metadata: { name: uniqueName('bad') },
          spec: { min: 5, max: 2 },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(k8s.ApiException);
    const apiErr = err as k8s.ApiException<string>;
    expect(apiErr.code).toBe(422);
    const status = JSON.parse(apiErr.body) as k8s.V1Status;
    expect(status.reason).toBe('Invalid');
    expect(status.message).toContain('spec: Invalid value: "object": spec.min must not exceed spec.max');
  });
});
