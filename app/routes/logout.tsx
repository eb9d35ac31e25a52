import { redirect, type ActionFunctionArgs } from '@remix-run/node';
import { appendAudit } from '../console.server';

export async function action({ context }: ActionFunctionArgs) {
  const s = context.session;
  if (s) {
    await context.services.sessions.revoke(s.token);
    await context.services.database.db.transaction((tx) =>
      appendAudit(tx, {
        actor: s.user.email,
        tenantId: s.user.tenantId,
        action: 'sign-out',
        target: `user/${s.user.id}`,
        ip: context.client.ip,
      }),
    );
  }
  throw redirect('/login', { headers: { 'Set-Cookie': context.sessionCookie(null) } });
}

export async function loader() {
  throw redirect('/login');
}
