// The console's Prometheus metrics, served on an address of their own
// (HOLDFAST_CONSOLE_METRICS_ADDRESS), never on the public port: request
// routes, timings and process details are for the cluster's monitoring, not
// for whoever can reach the sign-in page.
import http from 'node:http';
import client from 'prom-client';

export const DEFAULT_METRICS_ADDRESS = '0.0.0.0:9090';

/** The registry the console's request metrics and process metrics are kept in. */
export function consoleRegistry(): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'holdfast_console_' });
  return registry;
}

/** HOLDFAST_CONSOLE_METRICS_ADDRESS as host and port; undefined when it is `off`. */
export function metricsAddress(setting: string | undefined): { host: string; port: number } | undefined {
  const value = setting?.trim() || DEFAULT_METRICS_ADDRESS;
  if (value === 'off') return undefined;
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(
      `HOLDFAST_CONSOLE_METRICS_ADDRESS is "${value}": give host:port (e.g. ${DEFAULT_METRICS_ADDRESS}), or off to serve no metrics`,
    );
  return { host: value.slice(0, colon) || '0.0.0.0', port };
}

export interface MetricsServer {
  /** `http://host:port` */
  url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics from `registry` and nothing else. */
export async function startMetricsServer(
  registry: client.Registry,
  at: { host: string; port: number },
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(at.port, at.host, ok));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : at.port;
  const host = at.host.includes(':') ? `[${at.host}]` : at.host;
  return { url: `http://${host}:${port}`, close: () => new Promise((ok) => server.close(() => ok())) };
}
