// holdfast operator: run the controller (leader-elected), configured from
// HOLDFAST_* environment variables.
import * as k8s from '@kubernetes/client-node';
import { Operator } from '../operator/controller.js';
import { createLogger } from '../kube/log.js';
import { parseDuration } from '../operator/workspace/certificate/internal.js';
import { ALLOWED_DNS_SUFFIXES_SETTING, parseAllowedSuffixes } from '../operator/workspace/certificate/names.js';

function env(name: string, fallback: string): string {
  return process.env[name] ?? fallback;
}

function durationSetting(name: string): number {
  const text = process.env[name] ?? '';
  const ms = /^([0-9.]+(ms|s|m|h))+$/.test(text) ? parseDuration(text) : NaN;
  if (!(ms > 0)) throw new Error(`${name} must be a duration such as "43800h" or "90s", not "${text}"`);
  return ms;
}

export async function run(): Promise<undefined> {
  const log = createLogger('operator');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const concurrency = Number(env('HOLDFAST_CONCURRENCY', '10'));
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(
      `HOLDFAST_CONCURRENCY must be a whole number of at least 1, not "${process.env.HOLDFAST_CONCURRENCY}"`,
    );
  }
  const leaseMs = process.env.HOLDFAST_LEASE_DURATION_MS ? Number(process.env.HOLDFAST_LEASE_DURATION_MS) : undefined;
  const operator = new Operator({
    kubeconfig: kc,
    log,
    namespace: env('HOLDFAST_NAMESPACE', 'holdfast-system'),
    concurrency,
    healthAddress: env('HOLDFAST_HEALTH_ADDRESS', '0.0.0.0:8080'),
    ...(leaseMs ? { leaseDurationMs: leaseMs } : {}),
    ...(process.env.HOLDFAST_WORKSPACE_SELECTOR ? { workspaceSelector: process.env.HOLDFAST_WORKSPACE_SELECTOR } : {}),
    ...(process.env.HOLDFAST_LEASE_NAME ? { leaseName: process.env.HOLDFAST_LEASE_NAME } : {}),
    ...(process.env.HOLDFAST_CA_SECRET ? { caSecretName: process.env.HOLDFAST_CA_SECRET } : {}),
    ...(process.env.HOLDFAST_CA_DURATION ? { caDurationMs: durationSetting('HOLDFAST_CA_DURATION') } : {}),
    allowedDnsSuffixes: parseAllowedSuffixes(process.env[ALLOWED_DNS_SUFFIXES_SETTING]),
    ...(process.env.HOLDFAST_CA_OVERLAP ? { caOverlapMs: durationSetting('HOLDFAST_CA_OVERLAP') } : {}),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'signal received');
    operator.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await operator.run();
  return undefined;
}
