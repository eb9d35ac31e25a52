// Runs the real operator as a child process against the test control plane.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { allCrds } from '../../operator/api/crd.js';
import { APPLY_PATCH } from '../../kube/apply.js';
import { Rest, objectPath } from '../../kube/rest.js';
import { CHART_NAMESPACE } from './chart-accounts.js';
import { LOCAL_POSTGRES_IMAGE } from '../../operator/workspace/database/dedicated.js';
import { adminConfig, eventually } from './kube.js';
import { freePort } from './postgres.js';

const root = path.resolve(import.meta.dirname, '../..');
const execFileP = promisify(execFile);

/** Applies the generated CRDs (server-side, idempotent) and waits until served. */
export async function installCrds(): Promise<void> {
  const kc = adminConfig();
  const rest = new Rest(kc);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of allCrds()) {
    // Through the wire-format client: client-node's typed serializer would
    // drop `default` and `x-kubernetes-validations` from the schema.
    await rest.request('PATCH', objectPath('CustomResourceDefinition', crd.metadata!.name!), {
      body: crd,
      contentType: APPLY_PATCH,
      query: { fieldManager: 'holdfast-test', force: 'true' },
    });
    await eventually(`CRD ${crd.metadata!.name} established`, async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
  }
}

/**
 * Applies a third-party CRD bundle built by hack/build-tools.sh (cert-manager,
 * CloudNativePG) with the real kubectl and waits until every CRD is served.
 * `kubectl wait --for=condition=Established` is not used: it fails outright on
 * a CRD whose status has no conditions yet.
 */
export async function installThirdPartyCrds(component: string): Promise<void> {
  const tools = (c: string) =>
    execFileP(path.join(root, 'hack/build-tools.sh'), ['--print-dir', c]).then((r) => r.stdout.trim());
  const dir = await tools(component);
  const kubectl = path.join(await tools('kubernetes'), 'kubectl');
  const { stdout } = await execFileP(
    kubectl,
    ['apply', '--server-side', '--field-manager=holdfast-test', '-f', dir, '-o', 'name'],
    {
      env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
    },
  );
  const ext = adminConfig().makeApiClient(k8s.ApiextensionsV1Api);
  for (const line of stdout.split('\n').filter((l) => l.startsWith('customresourcedefinition'))) {
    const name = line.slice(line.indexOf('/') + 1);
    await eventually(
      `CRD ${name} established`,
      async () => {
        const got = await ext.readCustomResourceDefinition({ name });
        return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      60_000,
    );
  }
}

export async function ensureNamespace(name: string): Promise<void> {
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } }).catch((err: unknown) => {
    if (!(err instanceof k8s.ApiException) || err.code !== 409) throw err;
  });
}

export interface RunningOperator {
  process: ChildProcess;
  healthPort: number;
  logFile: string;
  /** SIGTERM and wait for a graceful exit (in-flight work finished, Lease released). */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to finish anything. */
  kill(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface OperatorOptions {
  /** Workspaces this operator handles (label selector); isolates test files. */
  selector: string;
  leaseName: string;
  leaseNamespace?: string;
  leaseDurationMs?: number;
  name?: string;
  env?: Record<string, string>;
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  // The chart's namespace: the chart's Role lets the operator hold Leases there only.
  const leaseNamespace = opts.leaseNamespace ?? CHART_NAMESPACE;
  await ensureNamespace(leaseNamespace);
  const healthPort = await freePort();
  const logDir = path.join(inject('controlPlaneDir'), 'operator-logs');
  await mkdir(logDir, { recursive: true });
  const logFile = path.join(logDir, `${opts.name ?? opts.leaseName}-${healthPort}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli/main.ts'), 'operator'], {
    cwd: root,
    env: {
      ...process.env,
      // The chart's operator account, not cluster admin: every test proves the chart's RBAC too.
      KUBECONFIG: inject('operatorKubeconfig'),
      HOLDFAST_NAMESPACE: leaseNamespace,
      HOLDFAST_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
      HOLDFAST_WORKSPACE_SELECTOR: opts.selector,
      HOLDFAST_LEASE_NAME: opts.leaseName,
      // Replicas of one test share a CA, as they share a Lease; other tests do not.
      HOLDFAST_CA_SECRET: `ca-${opts.leaseName}`,
      // The PostgreSQL images hack/images.sh built and the node imported.
      HOLDFAST_POSTGRES_IMAGE: LOCAL_POSTGRES_IMAGE,
      ...(opts.env ?? {}),
      ...(opts.leaseDurationMs ? { HOLDFAST_LEASE_DURATION_MS: String(opts.leaseDurationMs) } : {}),
      HOLDFAST_LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  await eventually(
    'operator /healthz',
    async () => {
      if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}; see ${logFile}`);
      const res = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
      return res.ok ? true : undefined;
    },
    // tsx compiles the operator's sources at each start: seconds when idle, a minute on a busy 2-core machine.
    90_000,
  );
  return {
    process: child,
    healthPort,
    logFile,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have: Record<string, string> = {};
        for (const kv of (m[3] ?? '').split(',').filter(Boolean)) {
          const [k = '', v = ''] = kv.split('=');
          have[k] = v.replace(/^"|"$/g, '');
        }
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[4]);
      }
      return total;
    },
  };
}
