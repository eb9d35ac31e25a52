// Kubernetes clients for integration tests, bound to the run's control plane.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { inject } from 'vitest';
import { WorkspaceApi } from '../../console/workspaces.js';
import { CHART_NAMESPACE } from './chart-accounts.js';
import { uniqueName } from './names.js';

export function adminConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

/** The console's own account as the chart makes it (chart-accounts.ts): what the console may do in a cluster. */
export function consoleConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('consoleKubeconfig'));
  return kc;
}

/** The console's view of the cluster as the chart's console Pod `holdfast-console-0` in `namespace` has it. */
export function chartConsoleWorkspaces(namespace = CHART_NAMESPACE): WorkspaceApi {
  return new WorkspaceApi(consoleConfig(), pino({ level: 'silent' }), { namespace, name: 'holdfast-console-0' });
}

/** The operator's own account as the chart makes it. */
export function operatorConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('operatorKubeconfig'));
  return kc;
}

/** A KubeConfig that authenticates with a bearer token instead of the admin cert. */
export function tokenConfig(token: string): k8s.KubeConfig {
  const admin = adminConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'token-user', token }],
    contexts: [{ name: 'token', cluster: cluster.name, user: 'token-user' }],
    currentContext: 'token',
  });
  return kc;
}

/** Waits until `probe` returns a value other than undefined, or fails with `what`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Creates a namespace with a unique name and waits for its default
 * ServiceAccount (pods in it are refused until the controller manager has
 * made one). Returns the name and a cleanup function.
 */
export async function testNamespace(prefix: string): Promise<{ name: string; remove: () => Promise<void> }> {
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name, labels: { 'holdfast.io/test': 'true' } } } });
  await eventually(
    `default ServiceAccount in ${name}`,
    async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: name })) ?? undefined,
  );
  return {
    name,
    remove: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** The run's kubectl against its cluster, as a person at the cluster uses it; its standard output. */
export async function kubectl(...args: string[]): Promise<string> {
  const run = promisify(execFile);
  const root = path.resolve(import.meta.dirname, '../..');
  const { stdout: bin } = await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'kubernetes']);
  const { stdout } = await run(path.join(bin.trim(), 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
  });
  return stdout;
}
