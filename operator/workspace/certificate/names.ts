// Which DNS names a Holdfast CA signs. A workspace's key sits in a Secret its
// tenant can read, so a certificate must never name another workspace's
// service or a host of the company: the internal issuer signs the
// workspace's own service names, plus names under the domains the platform
// admin allows (operator setting HOLDFAST_ALLOWED_DNS_SUFFIXES), and nothing
// else. The CAs Holdfast creates carry the same rule as X.509 name
// constraints, so a verifier refuses a leaf outside it whoever signed it.
import { namespaceOf, type Workspace } from '../../api/workspace.js';

export const ALLOWED_DNS_SUFFIXES_SETTING = 'HOLDFAST_ALLOWED_DNS_SUFFIXES';
/** Stands for the workspace's name in an allowed suffix. */
export const WORKSPACE_PLACEHOLDER = '{workspace}';

/** The Services a workspace's database answers on (the built-in one, or CloudNativePG's). */
function serviceNames(ws: Workspace): string[] {
  return ws.spec.database.provider === 'cloudnative-pg' ? ['db', 'db-rw', 'db-ro', 'db-r'] : ['db'];
}

/**
 * Names the database answers to inside the cluster. The bare `<service>.<ns>`
 * form is left out on purpose: its last label is the namespace, which no
 * name constraint of an installation-wide CA can cover.
 */
export function workspaceServiceNames(ws: Workspace): string[] {
  const ns = namespaceOf(ws.metadata.name);
  return serviceNames(ws).flatMap((s) => [s, `${s}.${ns}.svc`, `${s}.${ns}.svc.cluster.local`]);
}

/** Permitted DNS subtrees of a CA Holdfast creates: service names of every workspace, plus the allowed domains. */
export function caPermittedSubtrees(allowedSuffixes: string[]): string[] {
  const suffixes = allowedSuffixes.map((s) =>
    s.startsWith(`${WORKSPACE_PLACEHOLDER}.`) ? s.slice(WORKSPACE_PLACEHOLDER.length + 1) : s,
  );
  return [...new Set(['svc', 'svc.cluster.local', 'db', 'db-rw', 'db-ro', 'db-r', ...suffixes])];
}

/** RFC 5280 DNS subtree: the base itself, or any name with labels added on its left. */
export function withinSubtree(name: string, base: string): boolean {
  return name === base || name.endsWith(`.${base}`);
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses the operator setting: a comma-separated list of domains, each optionally starting with `{workspace}.`. */
export function parseAllowedSuffixes(text: string | undefined): string[] {
  const entries = (text ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase().replace(/^\./, ''))
    .filter((s) => s !== '');
  for (const entry of entries) {
    const domain = entry.startsWith(`${WORKSPACE_PLACEHOLDER}.`)
      ? entry.slice(WORKSPACE_PLACEHOLDER.length + 1)
      : entry;
    if (!DNS_NAME.test(domain) || !domain.includes('.')) {
      throw new Error(
        `${ALLOWED_DNS_SUFFIXES_SETTING} must be a comma-separated list of domains such as "db.example.com" or "{workspace}.db.example.com"; "${entry}" is not one`,
      );
    }
  }
  return entries;
}

export interface RefusedName {
  /** The field, e.g. spec.tls.dnsNames[2]. */
  field: string;
  name: string;
  why: string;
}

/** The entries of spec.tls.dnsNames the internal issuer must not sign, each with why. */
export function refusedDnsNames(ws: Workspace, allowedSuffixes: string[]): RefusedName[] {
  const own = new Set(workspaceServiceNames(ws));
  const allowed = allowedSuffixes.map((s) => s.replace(WORKSPACE_PLACEHOLDER, ws.metadata.name));
  const refused: RefusedName[] = [];
  (ws.spec.tls.dnsNames ?? []).forEach((name, i) => {
    const field = `spec.tls.dnsNames[${i}]`;
    if (own.has(name)) return;
    if (name.startsWith('*.')) {
      refused.push({ field, name, why: 'the internal issuer signs no wildcards: name each host' });
    } else if (!allowed.some((base) => withinSubtree(name, base))) {
      refused.push({
        field,
        name,
        why: `it is neither a service name of this workspace nor under a domain the platform admin allows (${ALLOWED_DNS_SUFFIXES_SETTING}: ${allowed.length ? allowed.join(', ') : 'none'})`,
      });
    }
  });
  return refused;
}

/** What to tell the user about refused names (the CertificateReady message). */
export function refusedMessage(refused: RefusedName[]): string {
  const each = refused.map((r) => `${r.field} "${r.name}" is not signed: ${r.why}`).join('; ');
  return `${each}. Remove it, ask the platform admin to allow its domain in ${ALLOWED_DNS_SUFFIXES_SETTING}, or set spec.tls.issuer: CertManager with an issuer that may sign it; the certificate in Secret db-tls names only the allowed names`;
}
