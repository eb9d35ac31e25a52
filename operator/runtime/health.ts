// /healthz, /readyz and /metrics for the operator process.
import http from 'node:http';
import type { Metrics } from './metrics.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(
  address: string,
  metrics: Metrics,
  ready: () => boolean,
): Promise<HealthServer> {
  const [host, portText] = address.includes(':')
    ? [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)]
    : ['0.0.0.0', address];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'caches not synced\n');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(Number(portText), host || '0.0.0.0', ok));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
