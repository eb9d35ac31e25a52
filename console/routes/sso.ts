// Single sign-on per tenant: /auth/sso/<tenant> starts it, the provider
// sends the person back to the OIDC callback or the SAML ACS.
import { createHash, randomBytes } from 'node:crypto';
import { eq, lt } from 'drizzle-orm';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OidcClient, type OidcPending } from '../auth/oidc.js';
import { SamlClient } from '../auth/saml.js';
import type { CsrfTokens } from '../auth/sessions.js';
import { SsoError } from '../auth/sso.js';
import { signInRequests, type Tenant } from '../db/schema.js';
import { clientOf } from '../plugins/security.js';
import { nextPage } from '../stages.js';

const REQUEST_TTL_MS = 10 * 60_000;
const hash = (id: string) => createHash('sha256').update(id).digest('hex');

export async function ssoRoutes(app: FastifyInstance): Promise<void> {
  const { services } = app;
  const db = services.database.db;
  const oidcClients = new Map<string, Promise<OidcClient>>();
  // One SAML client per tenant and settings: it remembers the requests it made.
  const samlClients = new Map<string, SamlClient>();

  // The Host header is the client's to write: redirect and ACS URLs come only from the configured public URL.
  const publicUrl = services.settings.publicUrl?.replace(/\/+$/, '');
  const NO_PUBLIC_URL =
    'Single sign-on is off: the console does not know its public address. Ask the platform administrator to set HOLDFAST_PUBLIC_URL.';
  const oidcFor = (tenant: Tenant) => {
    const key = JSON.stringify([tenant.id, tenant.oidc, tenant.oidcClientSecret]);
    let client = oidcClients.get(key);
    if (!client) {
      client = OidcClient.discover(
        {
          ...tenant.oidc!,
          ...(tenant.oidcClientSecret ? { clientSecret: tenant.oidcClientSecret } : {}),
        },
        services.idpHosts,
      );
      client.catch(() => oidcClients.delete(key));
      oidcClients.set(key, client);
    }
    return client;
  };
  const samlFor = (tenant: Tenant, base: string) => {
    const key = JSON.stringify([tenant.id, tenant.saml]);
    let client = samlClients.get(key);
    if (!client) {
      client = new SamlClient(
        { ...tenant.saml!, spEntityId: `${base}/auth/saml/${tenant.id}` },
        `${base}/auth/saml/${tenant.id}/acs`,
      );
      samlClients.set(key, client);
    }
    return client;
  };

  const fail = (reply: FastifyReply, message: string) => reply.redirect(signedErrorUrl(services.csrf, message));
  /** Refused after the tenant was known: the tenant's audit log says so, whatever the reason. */
  const failFor = async (
    request: FastifyRequest,
    reply: FastifyReply,
    tenantId: string,
    method: 'oidc' | 'saml',
    message: string,
  ) => {
    await services.signIn.ssoFailed(tenantId, method, clientOf(request), { reason: message });
    return fail(reply, message);
  };

  app.get('/auth/sso/:tenant', async (request, reply) => {
    const { tenant: id } = request.params as { tenant: string };
    const tenant = await services.tenants.forSignIn(id);
    const via = (request.query as { via?: string }).via;
    if (!tenant || (!tenant.oidc && !tenant.saml))
      return fail(
        reply,
        `No single sign-on is set up for "${id}". Check the organization name or sign in with your password.`,
      );
    if (!publicUrl) return fail(reply, NO_PUBLIC_URL);
    await db.delete(signInRequests).where(lt(signInRequests.createdAt, new Date(Date.now() - REQUEST_TTL_MS)));
    const requestId = randomBytes(24).toString('base64url');
    try {
      // The cookie binds the answer to this browser, so nobody can sign a victim into their own account.
      const secure = services.settings.secureCookies;
      if (tenant.oidc && via !== 'saml') {
        const { url, pending } = (await oidcFor(tenant)).begin(`${publicUrl}/auth/oidc/callback`);
        await db
          .insert(signInRequests)
          .values({ idHash: hash(requestId), tenantId: tenant.id, protocol: 'oidc', data: { ...pending } });
        reply.setCookie(app.cookieNames.sso, requestId, {
          path: '/',
          httpOnly: true,
          secure,
          sameSite: 'lax',
          maxAge: REQUEST_TTL_MS / 1000,
        });
        return reply.redirect(url);
      }
      const { url, authnRequestId } = await samlFor(tenant, publicUrl).begin(requestId);
      // The response must answer this very AuthnRequest, not another one this console sent.
      await db
        .insert(signInRequests)
        .values({ idHash: hash(requestId), tenantId: tenant.id, protocol: 'saml', data: { authnRequestId } });
      // The IdP posts back from another site: only a SameSite=None cookie (which must be Secure) comes along.
      // On plain-HTTP loopback the IdP is on the same site and Lax is enough.
      reply.setCookie(app.cookieNames.sso, requestId, {
        path: '/',
        httpOnly: true,
        secure,
        sameSite: secure ? 'none' : 'lax',
        maxAge: REQUEST_TTL_MS / 1000,
      });
      return reply.redirect(url);
    } catch (err) {
      request.log.warn({ err: String(err), tenant: id }, 'single sign-on could not start');
      await services.signIn.ssoFailed(tenant.id, tenant.oidc && via !== 'saml' ? 'oidc' : 'saml', clientOf(request), {
        reason: 'could not start',
        error: err instanceof SsoError ? err.message : String(err),
      });
      return fail(
        reply,
        `Single sign-on for ${tenant.displayName} could not start: the identity provider did not answer as configured. Ask your administrator to check it.`,
      );
    }
  });

  app.get('/auth/oidc/callback', async (request, reply) => {
    const requestId = request.cookies[app.cookieNames.sso];
    reply.clearCookie(app.cookieNames.sso, { path: '/' });
    const pending = requestId ? await take(requestId) : undefined;
    if (!pending || pending.protocol !== 'oidc')
      return fail(reply, 'That sign-in link expired or was started in another browser. Start again.');
    const tenant = await services.tenants.forSignIn(pending.tenantId);
    if (!tenant?.oidc) return fail(reply, 'Single sign-on is no longer set up for this organization.');
    if (!publicUrl) return fail(reply, NO_PUBLIC_URL);
    try {
      const identity = await (
        await oidcFor(tenant)
      ).finish(new URL(request.url, publicUrl), pending.data as unknown as OidcPending);
      return finish(
        request,
        reply,
        await services.signIn.sso(tenant, identity, 'oidc', clientOf(request), request.auth?.token),
      );
    } catch (err) {
      return failFor(
        request,
        reply,
        tenant.id,
        'oidc',
        err instanceof SsoError ? err.message : "The identity provider's answer could not be checked. Start again.",
      );
    }
  });

  // The IdP posts from its own site; the signed response and the cookie set when the sign-in started stand in for the CSRF token.
  app.post('/auth/saml/:tenant/acs', { config: { csrfExempt: true } }, async (request, reply) => {
    const { tenant: id } = request.params as { tenant: string };
    const body = Object.fromEntries(new URLSearchParams(typeof request.body === 'string' ? request.body : ''));
    const tenant = await services.tenants.forSignIn(id);
    if (!tenant?.saml) return fail(reply, 'Single sign-on is no longer set up for this organization.');
    if (!publicUrl) return fail(reply, NO_PUBLIC_URL);
    try {
      const { identity, relayState, inResponseTo } = await samlFor(tenant, publicUrl).finish(body);
      const started = request.cookies[app.cookieNames.sso];
      reply.clearCookie(app.cookieNames.sso, { path: '/' });
      if (!relayState || started !== relayState)
        throw new SsoError('This sign-in was not started in this browser. Start again from the sign-in page.');
      const pending = await take(relayState);
      if (!pending || pending.protocol !== 'saml' || pending.tenantId !== tenant.id)
        throw new SsoError('That sign-in expired. Start again.');
      if (pending.data.authnRequestId !== inResponseTo)
        throw new SsoError(
          'This SAML response answers another sign-in than the one started in this browser. Start again from the sign-in page.',
        );
      return finish(
        request,
        reply,
        await services.signIn.sso(tenant, identity, 'saml', clientOf(request), request.auth?.token),
      );
    } catch (err) {
      request.log.warn({ err: String(err), tenant: id }, 'SAML response refused');
      return failFor(
        request,
        reply,
        tenant.id,
        'saml',
        err instanceof SsoError ? err.message : "The identity provider's answer could not be checked. Start again.",
      );
    }
  });

  app.get('/auth/saml/:tenant/metadata', async (request, reply) => {
    const { tenant: id } = request.params as { tenant: string };
    const tenant = await services.tenants.forSignIn(id);
    if (!tenant?.saml) return reply.code(404).send({ error: 'NotFound', message: `SAML is not set up for "${id}"` });
    if (!publicUrl) return reply.code(409).send({ error: 'Conflict', message: NO_PUBLIC_URL });
    try {
      return reply.type('application/samlmetadata+xml').send(samlFor(tenant, publicUrl).metadata());
    } catch (err) {
      if (err instanceof SsoError) return reply.code(409).send({ error: 'Conflict', message: err.message });
      throw err;
    }
  });

  /** A sign-in request is used once: it is deleted as it is read. */
  async function take(requestId: string) {
    const [row] = await db
      .delete(signInRequests)
      .where(eq(signInRequests.idHash, hash(requestId)))
      .returning();
    if (!row || Date.now() - row.createdAt.getTime() > REQUEST_TTL_MS) return undefined;
    return row;
  }

  function finish(
    request: FastifyRequest,
    reply: FastifyReply,
    result: Awaited<ReturnType<typeof services.signIn.sso>>,
  ) {
    if (!result.ok) return fail(reply, result.message);
    app.setSessionCookie(reply, result.token);
    return reply.redirect(nextPage(result.stage));
  }
}

/** The sign-in page shows only messages the console itself signed, never text from a link. */
export function signedErrorUrl(csrf: CsrfTokens, message: string): string {
  return `/login?error=${encodeURIComponent(message)}&sig=${csrf.keyed('notice', message)}`;
}
