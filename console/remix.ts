// Serves the Remix app from Fastify: a Fetch Request in, the streamed
// Response out. (The published adapters do not fit Remix v2 with Fastify 5.)
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { createRequestHandler, type AppLoadContext, type ServerBuild } from '@remix-run/node';
import { matchRoutes } from '@remix-run/react';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The URL Remix is handed for a request. */
function remixUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${request.url}`;
}

/**
 * The ids of the Remix routes that would handle a request, found as Remix
 * finds them: after the URL parser resolves `.` and `..`, with percent
 * escapes decoded, letter case ignored and a single-fetch `.data` suffix
 * dropped. A check that belongs to a route (the sign-in rate limit) asks
 * this, so no spelling of the URL slips past it.
 */
export function remixRoutes(build: ServerBuild): (request: FastifyRequest) => string[] {
  const tree = (parentId: string | undefined): Parameters<typeof matchRoutes>[0] =>
    Object.values(build.routes)
      .filter((r) => r.parentId === parentId)
      .map((r) =>
        r.index
          ? { id: r.id, path: r.path, index: true, caseSensitive: r.caseSensitive }
          : { id: r.id, path: r.path, caseSensitive: r.caseSensitive, children: tree(r.id) },
      );
  const routes = tree(undefined);
  return (request) => {
    let pathname;
    try {
      pathname = new URL(remixUrl(request)).pathname;
    } catch {
      return [];
    }
    if (build.future.v3_singleFetch) pathname = pathname.replace(/\.data$/, '').replace(/^\/_root$/, '/');
    return (matchRoutes(routes, pathname, build.basename) ?? []).map((m) => m.route.id!);
  };
}

export function remixHandler(
  build: ServerBuild,
  loadContext: (request: FastifyRequest, reply: FastifyReply) => AppLoadContext,
) {
  const handle = createRequestHandler(build, 'production');
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const controller = new AbortController();
    reply.raw.once('close', () => controller.abort());
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const init: RequestInit = { method: request.method, headers, signal: controller.signal };
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.body !== undefined) {
      init.body =
        typeof request.body === 'string'
          ? request.body
          : Buffer.isBuffer(request.body)
            ? new Uint8Array(request.body)
            : JSON.stringify(request.body);
    }
    const response = await handle(new Request(remixUrl(request), init), loadContext(request, reply));
    reply.status(response.status);
    for (const [name, value] of response.headers) {
      if (name === 'set-cookie') continue;
      reply.header(name, value);
    }
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) reply.header('set-cookie', cookies);
    if (!response.body) return reply.send();
    // A live stream (server-sent events) or a download is passed on as it
    // comes; a page or its data is whole by now and goes out in one write.
    const type = response.headers.get('content-type') ?? '';
    if (type.startsWith('text/event-stream') || type.startsWith('application/octet-stream'))
      return reply.send(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>));
    return reply.send(Buffer.from(await response.arrayBuffer()));
  };
}
