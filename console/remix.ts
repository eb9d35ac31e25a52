// Serves the Remix app from Fastify: a Fetch Request in, the streamed
// Response out. (The published adapters do not fit Remix v2 with Fastify 5.)
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { createRequestHandler, type AppLoadContext, type ServerBuild } from '@remix-run/node';
import type { FastifyReply, FastifyRequest } from 'fastify';

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
    const response = await handle(
      new Request(`${request.protocol}://${request.host}${request.url}`, init),
      loadContext(request, reply),
    );
    reply.status(response.status);
    for (const [name, value] of response.headers) {
      if (name === 'set-cookie') continue;
      reply.header(name, value);
    }
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) reply.header('set-cookie', cookies);
    if (!response.body) return reply.send();
    return reply.send(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>));
  };
}
