// What a SharedDatabaseServer on the harness PostgreSQL is made of. Apart
// from workspaces.ts so that the benchmarks, which run outside vitest, can
// use it without the test clients (kube.ts reads vitest's injected state).
import { API_VERSION } from '../../operator/api/workspace.js';
import type { KubeObject } from '../../kube/rest.js';
import { toBase64 } from '../../kube/secret-data.js';
import type { TestPostgres } from './postgres.js';

/**
 * The Secrets and the SharedDatabaseServer that point Holdfast at the
 * harness PostgreSQL `pg`: admin and CA Secrets `<name>-admin` and
 * `<name>-ca` in `namespace` (the operator's), the server `name`.
 */
export function sharedServerObjects(pg: TestPostgres, name: string, namespace: string): KubeObject[] {
  const secret = (suffix: string, data: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-${suffix}`, namespace },
    data,
  });
  return [
    secret('admin', { username: toBase64(pg.user), password: toBase64(pg.password) }),
    secret('ca', { 'ca.crt': toBase64(pg.ca) }),
    {
      apiVersion: API_VERSION,
      kind: 'SharedDatabaseServer',
      metadata: { name },
      // The harness certificate names localhost.
      spec: {
        host: 'localhost',
        port: pg.port,
        caSecretRef: { name: `${name}-ca`, namespace },
        adminSecretRef: { name: `${name}-admin`, namespace },
      },
    },
  ];
}
