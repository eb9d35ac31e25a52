// What the Remix loaders and actions receive from the server.
import type { Viewer } from './access.js';
import type { ActiveSession } from './auth/sessions.js';
import type { ConsoleServices } from './services.js';

export interface ConsoleContext {
  services: ConsoleServices;
  /** Any session, also one still signing in. */
  session: ActiveSession | undefined;
  /** Set only for a fully signed-in session. */
  viewer: Viewer | undefined;
  csrf: string;
  cspNonce: string;
  client: { ip: string; userAgent: string };
  sessionCookie(token: string | null): string;
}

declare module '@remix-run/node' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AppLoadContext extends ConsoleContext {}
}
