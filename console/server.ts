// The console's HTTP server: security plugin, health, the JSON API, single
// sign-on, and the Remix app for everything else. Its metrics are served on
// an address of their own (metrics.ts).
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { AppLoadContext, ServerBuild } from '@remix-run/node';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import client from 'prom-client';
import { ZodError } from 'zod';
import { viewerOf } from './access.js';
import './context.js';
import { consoleRegistry } from './metrics.js';
import { clientOf, security } from './plugins/security.js';
import { remixHandler, remixRoutes } from './remix.js';
import { apiRoutes } from './routes/api.js';
import { ssoRoutes } from './routes/sso.js';
import type { ConsoleServices } from './services.js';

export interface BuildOptions {
  services: ConsoleServices;
  /** The built Remix app (build/server) and its browser assets (build/client). */
  remix?: { build: ServerBuild; clientDir: string };
  logger?: FastifyServerOptions['logger'];
  /** Addresses or CIDRs of the proxies whose X-Forwarded-* is believed (HOLDFAST_TRUSTED_PROXIES); false: none. */
  trustProxy?: string[] | false;
  /** Where the request metrics are kept; served apart from this app (see metrics.ts). */
  registry?: client.Registry;
}

/** The sign-in pages (app/routes/login.*): every form post to them counts toward the per-address limit. */
const SIGN_IN_ROUTE = /^routes\/login(\.|$)/;

export async function buildConsole(options: BuildOptions): Promise<FastifyInstance> {
  const { services } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: options.trustProxy ?? false,
    bodyLimit: 1_048_576,
    // Keeps the 5xx details out of responses.
    return503OnClosing: true,
    // Live status streams (text/event-stream) stay open; closing the console ends them.
    forceCloseConnections: true,
  });

  // Forms reach Remix as they came; the CSRF check reads its field from the raw text.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );

  const registry = options.registry ?? consoleRegistry();
  const duration = new client.Histogram({
    name: 'holdfast_console_request_duration_seconds',
    help: 'Console request latency by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((err: unknown, request, reply) => {
    const status = err instanceof ZodError ? 400 : ((err as { statusCode?: number }).statusCode ?? 500);
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.code(500).send({
        error: 'InternalServerError',
        message: 'something went wrong in the console; the details are in its log',
      });
    }
    const message =
      err instanceof ZodError
        ? err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')
        : (err as Error).message;
    return reply.code(status).send({ error: (err as Error).name, message });
  });

  await app.register(security, { services });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await services.database.ping();
      return { status: 'ready', database: services.database.kind };
    } catch (err) {
      _request.log.error({ err }, 'readiness: console database unreachable');
      return reply.code(503).send({
        status: 'not ready',
        message: 'the console database does not answer; the details are in the console log',
      });
    }
  });

  await app.register(apiRoutes, { prefix: '/api' });
  await app.register(ssoRoutes);

  if (options.remix) {
    const { build, clientDir } = options.remix;
    await app.register(fastifyStatic, {
      root: path.join(clientDir, 'assets'),
      prefix: '/assets/',
      immutable: true,
      maxAge: '1y',
      wildcard: true,
      decorateReply: false,
    });
    const handle = remixHandler(build, (request, reply): AppLoadContext => ({
      services,
      session: request.auth,
      viewer: request.auth?.session.stage === 'active' ? viewerOf(request.auth.user) : undefined,
      csrf: services.csrf.issue(request.csrfBinding),
      cspNonce: reply.cspNonce.script,
      client: clientOf(request),
      sessionCookie: (token: string | null) => app.sessionCookieHeader(token),
    }));
    const loginLimit = app.rateLimit({
      max: services.settings.signInsPerMinute,
      timeWindow: '1 minute',
      keyGenerator: (r) => r.ip,
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        error: 'Too Many Requests',
        message: `Too many sign-in attempts from your address. Wait ${Math.ceil(context.ttl / 1000)} seconds and try again.`,
      }),
    });
    const routesOf = remixRoutes(build);
    app.route({
      method: ['GET', 'HEAD', 'POST'],
      url: '/*',
      preHandler: async (request, reply) => {
        // Decided by the route that will handle the post, not by how its URL is spelled.
        if (request.method === 'POST' && routesOf(request).some((id) => SIGN_IN_ROUTE.test(id)))
          await loginLimit.call(app, request, reply);
      },
      handler: handle,
    });
  }
  return app;
}
