// Keeps the installation CA: creates it, rotates it as authority.ts plans,
// and drops expired retired CAs. Runs as the key CA_KEY on the operator's
// work queue and requeues itself for the next planned step.
import type { Logger } from 'pino';
import type { Applier } from '../../kube/apply.js';
import type { EventRecorder } from '../../kube/events.js';
import type { Informer } from '../../kube/informer.js';
import type { Outcome } from '../runtime/queue.js';
import { MERGE_PATCH, collectionPath, isConflict, objectPath, type Rest } from '../../kube/rest.js';
import {
  ROTATE_ANNOTATION,
  desiredCaSecret,
  planCa,
  readAuthority,
  type Authority,
  type CaPolicy,
  type SecretObject,
} from './authority.js';
import { certInfo, createCa, type KeyPair } from './x509.js';

/** Queue key of the CA; workspace names are DNS labels and cannot clash. */
export const CA_KEY = '@ca';

export interface CaDeps {
  rest: Rest;
  applier: Applier;
  /** Secrets of the operator namespace. */
  secrets: Informer<SecretObject>;
  /** The ca.crt each workspace currently has, by workspace. */
  workspaceBundles: () => string[];
  events: EventRecorder;
  log: Logger;
  secretName: string;
  namespace: string;
  policy: CaPolicy;
  now?: () => Date;
}

export class CaController {
  constructor(private readonly d: CaDeps) {}

  authority(): Authority | undefined {
    return readAuthority(this.d.secrets.get(this.d.secretName, this.d.namespace));
  }

  async reconcile(): Promise<Outcome> {
    const now = (this.d.now ?? (() => new Date()))();
    const secret = this.d.secrets.get(this.d.secretName, this.d.namespace);
    const a = readAuthority(secret);
    const forced = secret?.metadata.annotations?.[ROTATE_ANNOTATION] !== undefined;
    const nextPem = a?.state.next ? a.pairs.get(a.state.next)?.certPem : undefined;
    const allBundled = nextPem !== undefined && this.d.workspaceBundles().every((b) => b.includes(nextPem.trim()));
    if (secret && !a) {
      const message = `Secret ${this.d.namespace}/${this.d.secretName} holds no usable CA: for your own CA give it tls.crt and tls.key (type kubernetes.io/tls); to let Holdfast create one, delete the Secret`;
      this.d.log.error(message);
      await this.d.events.record(
        { apiVersion: 'v1', kind: 'Secret', metadata: secret.metadata },
        'Warning',
        'CAInvalid',
        'ReadCA',
        message,
      );
      return { requeueAfterMs: 60_000 };
    }
    const step = planCa(a, { now, forced, allBundled, policy: this.d.policy });
    const pairs = new Map<string, KeyPair>(
      [...(a?.pairs ?? new Map<string, KeyPair>())].map(([s, p]) => [s, { certPem: p.certPem, keyPem: p.keyPem }]),
    );
    const name = (serial: string) => `Holdfast CA ${serial.slice(0, 8)}`;
    const note = (reason: string, action: string, message: string) =>
      this.d.events.record(
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: secret?.metadata ?? { name: this.d.secretName, namespace: this.d.namespace },
        },
        'Normal',
        reason,
        action,
        message,
      );

    switch (step.action) {
      case 'none':
        return step.wakeAt ? { requeueAfterMs: Math.max(step.wakeAt.getTime() - now.getTime(), 250) } : undefined;
      case 'create': {
        const serialHint = Date.now().toString(16);
        const ca = await createCa({
          commonName: name(serialHint),
          now,
          durationMs: this.d.policy.durationMs,
          permittedDns: this.d.policy.permittedDns,
        });
        const serial = certInfo(ca.certPem).serial;
        // Created, not applied: should two operators ever race here, one
        // gets 409 Conflict instead of replacing the other's CA.
        try {
          await this.d.rest.request('POST', collectionPath('Secret', this.d.namespace), {
            body: desiredCaSecret(
              this.d.secretName,
              this.d.namespace,
              { current: serial, retired: [] },
              new Map([[serial, ca]]),
            ),
          });
        } catch (err) {
          if (isConflict(err)) return { requeueAfterMs: 250 };
          throw err;
        }
        this.d.log.info({ serial }, 'created the installation CA');
        await note('CACreated', 'CreateCA', `created installation CA ${serial}`);
        return { requeueAfterMs: 250 };
      }
      case 'createNext': {
        const ca = await createCa({
          commonName: name(Date.now().toString(16)),
          now,
          durationMs: this.d.policy.durationMs,
          permittedDns: this.d.policy.permittedDns,
        });
        const serial = certInfo(ca.certPem).serial;
        pairs.set(serial, ca);
        await this.write({ ...a!.state, next: serial, nextBundledAt: undefined }, pairs, secret);
        if (forced) await this.clearRotateAnnotation();
        await note(
          'CARotationStarted',
          'RotateCA',
          `created next CA ${serial} because ${step.reason}; workspace bundles now carry both CAs`,
        );
        return { requeueAfterMs: 250 };
      }
      case 'markBundled':
        await this.write({ ...a!.state, nextBundledAt: now.toISOString() }, pairs, secret);
        await note(
          'CABundled',
          'RotateCA',
          `every workspace bundle carries CA ${a!.state.next}; leaves move to it after the overlap of ${this.d.policy.overlapMs / 1000}s`,
        );
        return { requeueAfterMs: 250 };
      case 'promote': {
        const state = { current: a!.state.next!, retired: [a!.state.current, ...a!.state.retired] };
        await this.write(state, pairs, secret);
        await note(
          'CAPromoted',
          'RotateCA',
          `CA ${state.current} now signs certificates; CA ${a!.state.current} stays in the bundles until it expires`,
        );
        return { requeueAfterMs: 250 };
      }
      case 'dropRetired': {
        for (const s of step.serials) pairs.delete(s);
        await this.write(
          { ...a!.state, retired: a!.state.retired.filter((s) => !step.serials.includes(s)) },
          pairs,
          secret,
        );
        await note('CARetired', 'RotateCA', `removed expired CA ${step.serials.join(', ')} from the bundles`);
        return { requeueAfterMs: 250 };
      }
    }
  }

  private async write(
    state: Parameters<typeof desiredCaSecret>[2],
    pairs: Map<string, KeyPair>,
    current: SecretObject | undefined,
  ): Promise<void> {
    const clean = { ...state };
    if (!clean.next) delete clean.next;
    if (!clean.nextBundledAt) delete clean.nextBundledAt;
    await this.d.applier.apply(desiredCaSecret(this.d.secretName, this.d.namespace, clean, pairs), current);
  }

  private async clearRotateAnnotation(): Promise<void> {
    await this.d.rest.request('PATCH', objectPath('Secret', this.d.secretName, this.d.namespace), {
      body: { metadata: { annotations: { [ROTATE_ANNOTATION]: null } } },
      contentType: MERGE_PATCH,
    });
  }
}
