// Response headers, cookies, the session behind every request and the CSRF
// check in front of every state-changing one.
import { randomBytes } from 'node:crypto';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ActiveSession } from '../auth/sessions.js';
import type { ConsoleServices } from '../services.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in (or half signed-in) session, if any. */
    auth: ActiveSession | undefined;
    /** What this request's CSRF token is bound to: the session, or the anonymous cookie. */
    csrfBinding: string;
  }
  interface FastifyContextConfig {
    /** A route reached by a cross-site POST that carries its own proof (a signed SAML response). */
    csrfExempt?: boolean;
  }
  interface FastifyInstance {
    services: ConsoleServices;
    cookieNames: { session: string; csrf: string; sso: string };
    setSessionCookie(reply: FastifyReply, token: string | null): void;
    /** The same cookie as a Set-Cookie header value, for Remix actions to return. */
    sessionCookieHeader(token: string | null): string;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const security = fp(async (app: FastifyInstance, opts: { services: ConsoleServices }) => {
  const { services } = opts;
  const secure = services.settings.secureCookies;
  // __Host- cookies cannot be set by a sibling domain and must be Secure.
  const prefix = secure ? '__Host-' : '';
  const publicOrigin = services.settings.publicUrl ? new URL(services.settings.publicUrl).origin : undefined;
  const names = { session: `${prefix}holdfast-session`, csrf: `${prefix}holdfast-csrf`, sso: `${prefix}holdfast-sso` };
  app.decorate('services', services);
  app.decorate('cookieNames', names);
  const sessionCookie = { path: '/', secure, httpOnly: true, sameSite: 'lax' } as const;
  app.decorate('setSessionCookie', (reply: FastifyReply, token: string | null) => {
    if (token === null) reply.clearCookie(names.session, sessionCookie);
    else reply.setCookie(names.session, token, sessionCookie);
  });

  await app.register(cookie);
  app.decorate('sessionCookieHeader', (token: string | null) =>
    app.serializeCookie(names.session, token ?? '', token === null ? { ...sessionCookie, maxAge: 0 } : sessionCookie),
  );
  await app.register(helmet, {
    enableCSPNonces: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    hsts: secure ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
  });
  await app.register(rateLimit, { global: false });

  // Pages and API answers carry people's data, one-time passwords and TOTP secrets: never cached.
  app.addHook('onSend', async (request, reply) => {
    if (!request.url.startsWith('/assets/')) reply.header('cache-control', 'no-store');
  });

  app.decorateRequest('auth', undefined);
  app.decorateRequest('csrfBinding', '');

  app.addHook('onRequest', async (request, reply) => {
    if (
      request.url.startsWith('/assets/') ||
      request.url === '/healthz' ||
      request.url === '/readyz' ||
      request.url === '/metrics'
    )
      return;
    const token = request.cookies[names.session];
    // A page view may use a session checked within the last second; a change is checked now.
    request.auth = await services.sessions.resolve(token, undefined, {
      forViewing: request.method === 'GET' || request.method === 'HEAD',
    });
    if (token && !request.auth) app.setSessionCookie(reply, null);
    if (request.auth) {
      request.csrfBinding = request.auth.token;
    } else {
      let anon = request.cookies[names.csrf];
      if (!anon || anon.length > 64) {
        anon = randomBytes(24).toString('base64url');
        reply.setCookie(names.csrf, anon, { path: '/', secure, httpOnly: true, sameSite: 'lax' });
      }
      request.csrfBinding = anon;
    }
  });

  // Before body validation, so a refused request learns nothing about the schema.
  app.addHook('preValidation', async (request, reply) => {
    if (!UNSAFE.has(request.method) || request.routeOptions.config.csrfExempt) return;
    const origin = request.headers.origin;
    // Behind a TLS-terminating proxy the request looks like plain HTTP; the public URL is what browsers send.
    if (origin !== undefined && origin !== `${request.protocol}://${request.host}` && origin !== publicOrigin) {
      return refuse(reply, `requests from ${origin} are not accepted`);
    }
    if (!services.csrf.check(request.csrfBinding, csrfTokenOf(request))) {
      return refuse(reply, 'the form expired or did not come from this console; reload the page and try again');
    }
  });
});

function refuse(reply: FastifyReply, message: string) {
  return reply.code(403).type('application/json').send({ error: 'Forbidden', message });
}

function csrfTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-csrf-token'];
  if (typeof header === 'string') return header;
  if (
    typeof request.body === 'string' &&
    String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')
  ) {
    return new URLSearchParams(request.body).get('_csrf') ?? undefined;
  }
  if (request.body && typeof request.body === 'object' && !Buffer.isBuffer(request.body)) {
    const value = (request.body as Record<string, unknown>)._csrf;
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

export function clientOf(request: FastifyRequest): { ip: string; userAgent: string } {
  return { ip: request.ip, userAgent: String(request.headers['user-agent'] ?? '') };
}
