// RBAC is really enforced: a service account bound to a narrow Role can do
// what the Role allows and gets 403 Forbidden for everything else.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConfig, testNamespace, tokenConfig } from '../harness/kube.js';

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof k8s.ApiException) return err.code;
    throw err;
  }
}

describe('RBAC on the test apiserver', () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let narrow: k8s.CoreV1Api;

  beforeAll(async () => {
    ns = await testNamespace('rbac');
    const admin = adminConfig();
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const namespace = ns.name;
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'settings' }, data: { a: '1' } } });
    const token = await core.createNamespacedServiceAccountToken({
      namespace,
      name: 'reader',
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    narrow = tokenConfig(token.status!.token).makeApiClient(k8s.CoreV1Api);
  });
  afterAll(async () => ns?.remove());

  it('allows what the Role grants', async () => {
    const list = await narrow.listNamespacedConfigMap({ namespace: ns.name });
    expect(list.items.map((c) => c.metadata?.name)).toContain('settings');
  });

  it('forbids verbs and resources the Role does not grant', async () => {
    expect(await statusOf(narrow.listNamespacedSecret({ namespace: ns.name }))).toBe(403);
    expect(
      await statusOf(narrow.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'new' } } })),
    ).toBe(403);
    expect(await statusOf(narrow.listNamespacedConfigMap({ namespace: 'default' }))).toBe(403);
  });

  it('rejects an unauthenticated token with 401', async () => {
    const stranger = tokenConfig('not-a-token').makeApiClient(k8s.CoreV1Api);
    expect(await statusOf(stranger.listNamespacedConfigMap({ namespace: ns.name }))).toBe(401);
  });
});
