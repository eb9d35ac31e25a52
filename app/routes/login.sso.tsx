import { redirect, type LoaderFunctionArgs } from '@remix-run/node';
import { signedErrorUrl } from '../console.server';

/** The SSO form's target: on to the tenant's identity provider. */
export async function loader({ request, context }: LoaderFunctionArgs) {
  const tenant = (new URL(request.url).searchParams.get('tenant') ?? '').trim().toLowerCase();
  if (!/^[a-z0-9-]{1,40}$/.test(tenant))
    throw redirect(
      signedErrorUrl(context.services.csrf, 'Enter your organization id: lower case letters, digits and "-".'),
    );
  throw redirect(`/auth/sso/${tenant}`);
}
