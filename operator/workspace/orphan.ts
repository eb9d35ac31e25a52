// Retain and Snapshot release everything a Workspace owns, of every kind, so
// that garbage collection leaves it alone. The operator's caches hold only the
// kinds it writes through informers; a CloudNativePG Cluster or a cert-manager
// Certificate would keep its owner reference and be collected (and the Cluster
// takes its volumes with it). So the kinds come from API discovery, as the
// garbage collector's own do.
import { ApiError, MERGE_PATCH, objectPath, type KubeObject, type Rest } from '../../kube/rest.js';

export interface NamespacedResource {
  /** `v1` or `group/version`. */
  groupVersion: string;
  plural: string;
  kind: string;
}

interface ApiResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}

interface ApiGroupList {
  groups: { name: string; preferredVersion: { groupVersion: string } }[];
}

const apiPrefix = (groupVersion: string) =>
  groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;

/** The namespaced kinds that can be listed and patched, in each group's preferred version. */
export async function namespacedResources(rest: Rest): Promise<NamespacedResource[]> {
  const groups = await rest.get<ApiGroupList>('/apis');
  const lists = await Promise.all([
    rest.get<ApiResourceList>('/api/v1'),
    ...groups.groups.map((g) => rest.get<ApiResourceList>(apiPrefix(g.preferredVersion.groupVersion))),
  ]);
  return lists.flatMap((list) =>
    list.resources
      .filter((r) => r.namespaced && !r.name.includes('/') && r.verbs.includes('list') && r.verbs.includes('patch'))
      .map((r) => ({ groupVersion: list.groupVersion, plural: r.name, kind: r.kind })),
  );
}

export interface OwnedObject {
  kind: string;
  name: string;
  /** Where to PATCH it. */
  path: string;
  labels?: Record<string, string>;
  ownerReferences: NonNullable<KubeObject['metadata']['ownerReferences']>;
}

/** Every object in `namespace` (and the namespace itself) with an owner reference to `uid`. */
export async function ownedObjectsOf(rest: Rest, uid: string, namespace: string): Promise<OwnedObject[]> {
  const resources = await namespacedResources(rest);
  const lists = await Promise.all(
    resources.map(async (r) => {
      const path = `${apiPrefix(r.groupVersion)}/namespaces/${encodeURIComponent(namespace)}/${r.plural}`;
      // A kind the operator may not list is a kind it cannot have created.
      const list = await rest.get<{ items?: KubeObject[] }>(path).catch((err: unknown) => {
        if (err instanceof ApiError && [403, 404, 405].includes(err.code)) return { items: [] };
        throw err;
      });
      return (list.items ?? []).map((o) => ({ r, o, path: `${path}/${encodeURIComponent(o.metadata.name)}` }));
    }),
  );
  const ns = await rest.find<KubeObject>(objectPath('Namespace', namespace));
  const all = [
    ...(ns ? [{ r: { kind: 'Namespace' }, o: ns, path: objectPath('Namespace', namespace) }] : []),
    ...lists.flat(),
  ];
  return all
    .filter(({ o }) => o.metadata.ownerReferences?.some((ref) => ref.uid === uid))
    .map(({ r, o, path }) => ({
      kind: r.kind,
      name: o.metadata.name,
      path,
      ...(o.metadata.labels ? { labels: o.metadata.labels } : {}),
      ownerReferences: o.metadata.ownerReferences!,
    }));
}

/** Removes the owner reference to `uid` and records where the object came from. */
export async function orphan(rest: Rest, obj: OwnedObject, uid: string, retainedFrom: Record<string, string | null>) {
  const refs = obj.ownerReferences.filter((r) => r.uid !== uid);
  await rest.request('PATCH', obj.path, {
    body: { metadata: { ownerReferences: refs.length ? refs : null, annotations: retainedFrom } },
    contentType: MERGE_PATCH,
  });
}
