// Guards for loaders and actions. Everything that touches sessions stays on
// the server side of the `.server` boundary.
import { redirect, type AppLoadContext } from '@remix-run/node';
import type { Viewer } from '../console/access.js';
import type { SessionStage } from '../console/db/schema.js';
import { nextPage } from '../console/stages.js';

/** The fully signed-in viewer; anyone else goes to the sign-in page (or their next sign-in step). */
export function requireViewer(context: AppLoadContext, request: Request): Viewer {
  if (context.viewer) return context.viewer;
  if (context.session) throw redirect(nextPage(context.session.session.stage));
  const url = new URL(request.url);
  const back = url.pathname === '/' ? '' : `?next=${encodeURIComponent(url.pathname + url.search)}`;
  throw redirect(`/login${back}`);
}

/** The session of someone in the middle of signing in, at the given step. */
export function requireStage(context: AppLoadContext, stage: SessionStage) {
  const s = context.session;
  if (!s) throw redirect('/login');
  if (s.session.stage !== stage) throw redirect(nextPage(s.session.stage));
  return s;
}

/** Runs a service call and turns a refusal into a message for the form. */
export async function attempt<T>(
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string; status: number; fields: Record<string, string> }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    // Messages by form field, when the refusal names fields (a Workspace the apiserver refused).
    const fields = (err as { fields?: Record<string, string> }).fields ?? {};
    if (status && status < 500) return { ok: false, error: (err as Error).message, status, fields };
    if (err && typeof err === 'object' && 'issues' in err && Array.isArray(err.issues)) {
      const issues = err.issues as { path: PropertyKey[]; message: string }[];
      return {
        ok: false,
        error: issues.map((i) => `${i.path.map(String).join('.') || 'form'}: ${i.message}`).join('; '),
        status: 400,
        fields: Object.fromEntries(issues.map((i) => [i.path.map(String).join('.'), i.message])),
      };
    }
    throw err;
  }
}

/** A safe place to return to after signing in: a path on this console, nothing else. */
export function safeNext(value: FormDataEntryValue | string | null | undefined): string {
  const s = typeof value === 'string' ? value : '';
  // Parsed as the browser will (which drops tabs and newlines and reads "\" as "/"), then kept only if it stays here.
  if (!s.startsWith('/')) return '/';
  try {
    const url = new URL(s, 'http://console.invalid');
    return url.origin === 'http://console.invalid' ? `${url.pathname}${url.search}` : '/';
  } catch {
    return '/';
  }
}

/** A text field of a submitted form; empty when absent or a file. */
export function field(form: FormData, name: string): string {
  const v = form.get(name);
  return typeof v === 'string' ? v : '';
}
