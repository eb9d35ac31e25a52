// Where the console writes its Events about Workspaces: in its own namespace
// (HOLDFAST_NAMESPACE), regarding its Pod, the Workspace related; on a real
// apiserver, which refuses Events regarding a cluster-scoped object anywhere
// but `default`. The console writes as the chart's console account, which may
// create Events in its own namespace only.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { CHART_NAMESPACE } from '../harness/chart-accounts.js';
import { adminConfig, chartConsoleWorkspaces, eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';

describe('console Events', () => {
  const ns = { name: CHART_NAMESPACE };

  it("are written in the console's namespace about its Pod and the Workspace, and not in default", async () => {
    const workspace = uniqueName('acme');
    const statuses = chartConsoleWorkspaces(ns.name);
    await statuses.warn(workspace, 'AccountLocked', 'console account a@acme.test locked after 5 failed sign-ins');

    const events = adminConfig().makeApiClient(k8s.EventsV1Api);
    const about = async (namespace: string) =>
      (await events.listNamespacedEvent({ namespace, fieldSelector: 'reason=AccountLocked' })).items.filter(
        (e) => e.related?.name === workspace,
      );
    const event = await eventually('the Event', async () => (await about(ns.name))[0]);
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'AccountLocked',
      note: 'console account a@acme.test locked after 5 failed sign-ins',
      reportingController: 'holdfast.io/console',
      regarding: { apiVersion: 'v1', kind: 'Pod', name: 'holdfast-console-0', namespace: ns.name },
      related: { apiVersion: 'holdfast.io/v1alpha1', kind: 'Workspace', name: workspace },
    });
    expect(await about('default')).toEqual([]);
  });
});
