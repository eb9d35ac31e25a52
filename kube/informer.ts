// A list+watch cache of one resource type. client-node's ListWatch resumes
// from the last resourceVersion and re-lists on 410 Gone; it stops on any
// other error, so this restarts it with backoff.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiObserver, collectionPath, RESOURCES, Rest, type Kind, type KubeObject } from './rest.js';

export type ChangeHandler<T> = (obj: T, kind: 'add' | 'update' | 'delete') => void;

export interface InformerSpec {
  kind: Kind;
  labelSelector?: string;
  /** Only this namespace; all namespaces when omitted. */
  namespace?: string;
  /** Keep metadata.managedFields, for a reader that shows who set which field. */
  keepManagedFields?: boolean;
}

/**
 * The object without metadata.managedFields, which nothing here reads and
 * which is often as large as the rest of the object (client-go's informers
 * are usually told to drop it too).
 */
function withoutManagedFields<O>(obj: O): O {
  const metadata = (obj as { metadata?: { managedFields?: unknown } } | undefined)?.metadata;
  if (metadata?.managedFields) delete metadata.managedFields;
  return obj;
}

/** Objects are kept in wire format (watch events are; lists are made so). */
export class Informer<T extends KubeObject> {
  // client-node types timestamps as Date; the wire objects here hold strings.
  private readonly listWatch: k8s.ListWatch<k8s.KubernetesObject>;
  private readonly handlers: ChangeHandler<T>[] = [];
  private stopped = false;
  private restarts = 0;

  constructor(
    kc: k8s.KubeConfig,
    readonly spec: InformerSpec,
    private readonly log: Logger,
  ) {
    const rest = new Rest(kc);
    const slim = spec.keepManagedFields ? <O>(obj: O) => obj : withoutManagedFields;
    const path = collectionPath(spec.kind, spec.namespace);
    const { apiVersion } = RESOURCES[spec.kind];
    const list = async (): Promise<k8s.KubernetesListObject<k8s.KubernetesObject>> => {
      const l = await rest.get<k8s.KubernetesListObject<k8s.KubernetesObject>>(path, {
        labelSelector: spec.labelSelector,
      });
      // List items come without apiVersion and kind; watch events carry them.
      for (const item of l.items) Object.assign(slim(item), { apiVersion, kind: spec.kind });
      return l;
    };
    const watch = new k8s.Watch(kc);
    const startWatch = watch.watch.bind(watch);
    watch.watch = (watchPath, query, callback, done) => {
      apiObserver.watch?.(spec.kind);
      return startWatch(watchPath, query, (phase, obj, raw) => callback(phase, slim(obj), raw), done);
    };
    this.listWatch = new k8s.ListWatch<k8s.KubernetesObject>(path, watch, list, false, spec.labelSelector);
    this.listWatch.on(k8s.ADD, (o) => this.emit(o as unknown as T, 'add'));
    this.listWatch.on(k8s.UPDATE, (o) => this.emit(o as unknown as T, 'update'));
    this.listWatch.on(k8s.DELETE, (o) => this.emit(o as unknown as T, 'delete'));
    this.listWatch.on(k8s.ERROR, (err) => this.restart(err));
  }

  onChange(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  /** Lists, then watches; resolves once the cache holds the first list. */
  async start(): Promise<void> {
    this.stopped = false;
    for (;;) {
      try {
        await this.listWatch.start();
        return;
      } catch (err) {
        // Right after a CRD is installed the apiserver may refuse for a moment.
        this.log.warn({ err: String(err), resource: this.spec.kind }, 'initial list failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
        if (this.stopped) return;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.listWatch.stop();
  }

  /** Every object, or those of one namespace (kept indexed by namespace). */
  list(namespace?: string): readonly T[] {
    return this.listWatch.list(namespace) as unknown as readonly T[];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch.get(name, namespace) as unknown as T | undefined;
  }

  private emit(obj: T, kind: 'add' | 'update' | 'delete'): void {
    for (const h of this.handlers) h(obj, kind);
  }

  private restart(err: unknown): void {
    if (this.stopped) return;
    const delay = Math.min(1000 * 2 ** this.restarts, 30_000);
    this.restarts++;
    this.log.warn({ err: String(err), resource: this.spec.kind, retryInMs: delay }, 'watch failed; restarting');
    setTimeout(() => {
      if (this.stopped) return;
      this.listWatch.start().then(
        () => (this.restarts = 0),
        (e: unknown) => this.restart(e),
      );
    }, delay).unref();
  }
}
