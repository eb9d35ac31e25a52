// The run's node keeps everything on this machine (hack/node.sh's guard):
// a pod resolves cluster names but no others, cannot open a connection to
// an address this host itself reaches, and an image that is not imported
// fails to start instead of being pulled.
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionPath, objectPath, Rest } from '../../kube/rest.js';
import { adminConfig, eventually, testNamespace } from '../harness/kube.js';
import { runPod } from '../harness/pods.js';

/**
 * The first nameserver of this host outside the machine (a loopback one,
 * such as systemd-resolved's, would be the pod's own loopback there).
 */
async function hostNameserver(): Promise<string> {
  const conf = await readFile('/etc/resolv.conf', 'utf8');
  const outside = [...conf.matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)/gm)]
    .map((m) => m[1]!)
    .find((ip) => !ip.startsWith('127.'));
  if (!outside) throw new Error('/etc/resolv.conf names no nameserver outside this machine to test the guard against');
  return outside;
}

function tcpOpens(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect({ host, port, timeout: 3000 });
    s.once('connect', () => (s.destroy(), ok(true)));
    s.once('error', () => ok(false));
    s.once('timeout', () => (s.destroy(), ok(false)));
  });
}

describe('the node keeps pods on this machine', () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const rest = new Rest(adminConfig());
  beforeAll(async () => {
    ns = await testNamespace('guard');
  });
  afterAll(async () => ns?.remove());

  it('a pod resolves cluster names only, and reaches no address outside, where this host does', async () => {
    const nameserver = await hostNameserver();
    // The host's own view, the control: its resolver answers, over TCP too.
    expect((await lookup('deb.debian.org')).address).toMatch(/^\d+\./);
    expect(await tcpOpens(nameserver, 53)).toBe(true);

    const pod = await runPod({
      namespace: ns.name,
      name: 'outbound',
      script: `getent hosts kubernetes.default.svc.cluster.local >/dev/null && echo cluster-dns-ok
        getent hosts deb.debian.org >/dev/null && echo outside-dns-ok || echo outside-dns-none
        timeout 5 bash -c 'exec 3<>/dev/tcp/${nameserver}/53' 2>/dev/null && echo outside-tcp-ok || echo outside-tcp-blocked
        exit 0`,
    });
    expect(pod.phase, pod.log).toBe('Succeeded');
    expect(pod.log.trim().split('\n')).toEqual(['cluster-dns-ok', 'outside-dns-none', 'outside-tcp-blocked']);
  });

  it('an image that was not imported fails to start instead of being pulled', async () => {
    await rest.request('POST', collectionPath('Pod', ns.name), {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'unpulled' },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'main',
              image: 'docker.io/library/busybox:1.37',
              imagePullPolicy: 'IfNotPresent',
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    });
    const waiting = await eventually(
      'the pull to fail',
      async () => {
        const pod = await rest.get<{
          status?: { containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[] };
        }>(objectPath('Pod', 'unpulled', ns.name));
        const w = pod.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? w : undefined;
      },
      60_000,
    );
    expect(waiting.message ?? '').toMatch(/busybox/);
  });
});
