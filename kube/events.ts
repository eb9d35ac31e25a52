// Kubernetes Events about Workspaces (events.k8s.io/v1). A Workspace is
// cluster-scoped, and the apiserver accepts Events regarding a cluster-scoped
// object only in `default` (or kube-system), which is where the operator
// writes them and `kubectl describe workspace` finds them. The console writes
// its own in its namespace instead, regarding its Pod, the Workspace `related`.
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { collectionPath, microTime, Rest, type ObjectMeta } from './rest.js';
import type { WriteCounter } from './writes.js';

/** What an Event is about: any object with apiVersion, kind and metadata. */
export interface Regarding {
  apiVersion?: string;
  kind?: string;
  metadata?: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion'>;
}

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly rest: Rest;

  constructor(
    kc: k8s.KubeConfig,
    private readonly instance: string,
    /** Counts the writes; the console, which keeps no write metrics, passes none. */
    private readonly writes: WriteCounter | undefined,
    private readonly log: Logger,
    private readonly controller = 'holdfast.io/operator',
  ) {
    this.rest = new Rest(kc);
  }

  async record(
    regarding: Regarding,
    type: EventType,
    reason: string,
    action: string,
    note: string,
    /** A second object the Event is about. */
    related?: Regarding,
  ): Promise<void> {
    const name = regarding.metadata?.name ?? 'unknown';
    const namespace = regarding.metadata?.namespace ?? 'default';
    try {
      await this.rest.request('POST', collectionPath('Event', namespace), {
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: `${name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
          eventTime: microTime(),
          type,
          reason,
          action,
          note: note.slice(0, 1024),
          reportingController: this.controller,
          reportingInstance: this.instance.slice(0, 128),
          regarding: {
            apiVersion: regarding.apiVersion,
            kind: regarding.kind,
            name,
            ...(regarding.metadata?.namespace ? { namespace: regarding.metadata.namespace } : {}),
            uid: regarding.metadata?.uid,
            resourceVersion: regarding.metadata?.resourceVersion,
          },
          ...(related ? { related: reference(related) } : {}),
        },
      });
      this.writes?.inc({ kind: 'Event', verb: 'create' });
    } catch (err) {
      // An Event that cannot be written must not fail the reconcile.
      this.log.warn({ err: String(err), reason }, 'could not record event');
    }
  }
}

function reference(of: Regarding): k8s.V1ObjectReference {
  return {
    apiVersion: of.apiVersion,
    kind: of.kind,
    name: of.metadata?.name ?? 'unknown',
    ...(of.metadata?.namespace ? { namespace: of.metadata.namespace } : {}),
    ...(of.metadata?.uid ? { uid: of.metadata.uid } : {}),
  };
}
