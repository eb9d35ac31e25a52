import type { LinksFunction, LoaderFunctionArgs, MetaFunction } from '@remix-run/node';
import {
  Form,
  Link,
  Links,
  Meta,
  NavLink,
  Outlet,
  Scripts,
  ScrollRestoration,
  isRouteErrorResponse,
  useLoaderData,
  useRouteError,
} from '@remix-run/react';
import type { ReactNode } from 'react';
import { useNonce } from './nonce';
import styles from './styles.css?url';

export const links: LinksFunction = () => [
  { rel: 'stylesheet', href: styles },
  { rel: 'icon', href: 'data:,' },
];
export const meta: MetaFunction = () => [{ title: 'Holdfast console' }];

export async function loader({ context }: LoaderFunctionArgs) {
  const v = context.viewer;
  return {
    viewer: v ? { email: v.email, name: v.name, role: v.role, tenantId: v.tenantId } : null,
    csrf: context.csrf,
  };
}

const ROLE_NAMES = { 'platform-admin': 'Platform admin', 'tenant-admin': 'Tenant admin', auditor: 'Auditor' } as const;

export function Layout({ children }: { children: ReactNode }) {
  const nonce = useNonce();
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body>
        {children}
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  const { viewer, csrf } = useLoaderData<typeof loader>();
  if (!viewer)
    return (
      <main className="signin">
        <Outlet />
      </main>
    );
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="Holdfast console home">
          Holdfast
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Workspaces
          </NavLink>
          <NavLink to="/audit">Audit log</NavLink>
          <NavLink to="/account">Account</NavLink>
        </nav>
        <div className="who">
          <span>
            <strong>{viewer.name || viewer.email}</strong>
            <small>
              {ROLE_NAMES[viewer.role]}
              {viewer.tenantId ? ` · ${viewer.tenantId}` : ''}
            </small>
          </span>
          <Form method="post" action="/logout">
            <input type="hidden" name="_csrf" value={csrf} />
            <button type="submit" className="link">
              Sign out
            </button>
          </Form>
        </div>
      </header>
      <main id="main" className="content">
        <Outlet />
      </main>
    </div>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  const title = status === 404 ? 'Page not found' : status === 403 ? 'Not allowed' : 'Something went wrong';
  const detail = isRouteErrorResponse(error)
    ? typeof error.data === 'string'
      ? error.data
      : status === 404
        ? 'There is nothing at this address. Check the link, or go back to the workspaces.'
        : ''
    : 'The console could not show this page. The details are in the console log; try again in a moment.';
  return (
    <main className="signin">
      <section className="card" aria-labelledby="err-title">
        <h1 id="err-title">{title}</h1>
        <p>{detail}</p>
        <p>
          <Link to="/">Back to the workspaces</Link>
        </p>
      </section>
    </main>
  );
}
