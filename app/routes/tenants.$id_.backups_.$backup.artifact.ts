// GET /tenants/:id/backups/:backup/artifact?destination=…: the backup's
// artifact as its destination stores it (age-encrypted), streamed.
import { Readable } from 'node:stream';
import type { LoaderFunctionArgs } from '@remix-run/node';
import { requireViewer } from '../session.server';

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const destination = new URL(request.url).searchParams.get('destination') ?? '';
  let opened;
  try {
    opened = await context.services.artifacts.open(
      viewer,
      params.id!,
      params.backup!,
      destination,
      context.client,
      request.signal,
    );
  } catch (err) {
    // Refusals (404, 403, 409) and what keeps the console from the store (503) say what to do.
    const status = (err as { statusCode?: number }).statusCode;
    if (!status) throw err;
    return new Response(`${(err as Error).message}\n`, {
      status,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  }
  const { body, size, filename } = opened;
  return new Response(Readable.toWeb(body) as unknown as ReadableStream, {
    headers: {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
      ...(size !== undefined ? { 'content-length': String(size) } : {}),
    },
  });
}
