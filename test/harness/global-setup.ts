// Starts one real control plane (etcd, kube-apiserver, controller-manager,
// scheduler) and one real node next to it (containerd, kubelet, kube-proxy,
// CoreDNS, kube-router, local volumes: hack/node.sh) for the integration run,
// and hands its kubeconfig to the tests. Pods really run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { chartAccounts } from './chart-accounts.js';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../hack/control-plane.sh');

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    controlPlaneDir: string;
    /** The chart's operator and console ServiceAccounts, with the chart's RBAC (chart-accounts.ts). */
    operatorKubeconfig: string;
    consoleKubeconfig: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-cp-'));
  const started = Date.now();
  try {
    // --owner-pid: if this process dies without running teardown, the
    // control plane's watchdog stops it and the node anyway.
    const { stdout } = await run(script, ['start', dir, '--node', '--owner-pid', String(process.pid)], {
      maxBuffer: 16 << 20,
    });
    const kubeconfig = stdout.trim().split('\n').at(-1) ?? '';
    project.provide('kubeconfig', kubeconfig);
    project.provide('controlPlaneDir', dir);
    const accounts = await chartAccounts(dir, kubeconfig);
    project.provide('operatorKubeconfig', accounts.operator);
    project.provide('consoleKubeconfig', accounts.console);
  } catch (err) {
    await run(script, ['stop', dir]).catch(() => undefined);
    throw err;
  }
  console.log(`control plane and node up in ${((Date.now() - started) / 1000).toFixed(1)}s (${dir})`);
  return async () => {
    const stopping = Date.now();
    await run(script, ['stop', dir]);
    console.log(`control plane and node stopped in ${((Date.now() - stopping) / 1000).toFixed(1)}s`);
    if (!process.env.HOLDFAST_KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  };
}
