// The chart's own ServiceAccounts and RBAC, for the integration run: the
// operator and the console the tests start run with these accounts' tokens,
// not as cluster admin, so that every test also proves the chart grants what
// they use. Rendered from charts/holdfast as `helm install` would render them
// (release `holdfast`, namespace holdfast-system), applied to the test
// apiserver, with a token each from the TokenRequest API.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export const CHART_RELEASE = 'holdfast';
export const CHART_NAMESPACE = 'holdfast-system';
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** Writes `operator.kubeconfig` and `console.kubeconfig` into `dir`; returns their paths. */
export async function chartAccounts(
  dir: string,
  adminKubeconfig: string,
): Promise<{ operator: string; console: string }> {
  const tool = async (name: string) =>
    path.join(
      (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', name])).stdout.trim(),
      name === 'helm' ? 'helm' : 'kubectl',
    );
  await run(path.join(root, 'hack/build-tools.sh'), ['helm']);
  const [helm, kubectl] = await Promise.all([tool('helm'), tool('kubernetes')]);
  const env = { ...process.env, KUBECONFIG: adminKubeconfig, HELM_CACHE_HOME: path.join(dir, 'helm') };
  const { stdout: rendered } = await run(
    helm,
    ['template', CHART_RELEASE, path.join(root, 'charts/holdfast'), '-n', CHART_NAMESPACE],
    { env, maxBuffer: 32 << 20 },
  );
  const rbac = parseAllDocuments(rendered)
    .map((d) => d.toJS() as { kind?: string } | null)
    .filter((d): d is { kind: string } => RBAC_KINDS.has(d?.kind ?? ''));
  const file = path.join(dir, 'chart-rbac.json');
  await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }));
  await run(kubectl, ['create', 'namespace', CHART_NAMESPACE], { env }).catch(() => undefined);
  await run(kubectl, ['apply', '--server-side', '--field-manager=holdfast-tests', '-f', file], {
    env,
  });

  const kc = new k8s.KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const cluster = kc.getCurrentCluster()!;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const kubeconfigOf = async (component: 'operator' | 'console') => {
    const token = await core.createNamespacedServiceAccountToken({
      name: `${CHART_RELEASE}-${component}`,
      namespace: CHART_NAMESPACE,
      body: { spec: { audiences: [], expirationSeconds: 24 * 3600 } },
    });
    const out = path.join(dir, `${component}.kubeconfig`);
    await writeFile(
      out,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'holdfast-local', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } },
        ],
        users: [{ name: component, user: { token: token.status?.token } }],
        contexts: [{ name: component, context: { cluster: 'holdfast-local', user: component } }],
        'current-context': component,
      }),
    );
    return out;
  };
  return { operator: await kubeconfigOf('operator'), console: await kubeconfigOf('console') };
}
