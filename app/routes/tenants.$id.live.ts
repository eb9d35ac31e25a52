// The live status of a tenant's Workspace as server-sent events: `status`
// each time the watch sees the Workspace change, `events` when its Events
// change (read every 5 s), and a comment every 20 s to keep proxies from
// closing an idle stream. The session is checked again every 10 s, and the
// stream ends with it (a sign-out, a disabled account, an idle timeout); it
// also ends after 15 minutes, and the browser opens a new one.
import type { LoaderFunctionArgs } from '@remix-run/node';
import { workspaceStatusView } from '../console.server';
import { attempt, requireViewer } from '../session.server';

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const found = await attempt(() => context.services.tenants.get(viewer, params.id!));
  if (!found.ok) throw new Response(found.error, { status: found.status });
  const api = context.services.workspaces;
  if (!api) throw new Response('the console cannot reach the Kubernetes API', { status: 503 });
  const name = found.value.workspace;
  const { sessions } = context.services;
  const token = context.session?.token;
  const encoder = new TextEncoder();
  let close = () => {};
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (event: string, data: unknown) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        } catch {
          close();
        }
      };
      let lastEvents = '';
      const pollEvents = async () => {
        const events = await api.eventsOf(name).catch(() => undefined);
        const text = JSON.stringify(events);
        if (events && text !== lastEvents) {
          lastEvents = text;
          send('events', events);
        }
      };
      const unsubscribe = api.subscribe(name, (ws) => {
        send('status', workspaceStatusView(ws));
        void pollEvents();
      });
      void api.cached(name).then(
        (ws) => send('status', workspaceStatusView(ws)),
        () => undefined,
      );
      void pollEvents();
      const timers = [
        setInterval(() => void pollEvents(), 5_000),
        setInterval(() => {
          if (closed) return;
          try {
            controller.enqueue(encoder.encode(': keep-alive\n\n'));
          } catch {
            close();
          }
        }, 20_000),
        setInterval(() => {
          void (token ? sessions.isOpen(token) : Promise.resolve(false)).then(
            (open) => open || close(),
            () => undefined,
          );
        }, 10_000),
      ];
      const lifetime = setTimeout(() => close(), 15 * 60_000);
      close = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        for (const t of timers) clearInterval(t);
        clearTimeout(lifetime);
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
      request.signal.addEventListener('abort', () => close());
      // The browser may have gone while the tenant was being read.
      if (request.signal.aborted) close();
    },
    cancel() {
      close();
    },
  });
  return new Response(stream, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    },
  });
}
