// The console modules the routes use, behind the `.server` boundary so that
// none of them can reach the browser bundle.
import { toString as qrSvg } from 'qrcode';

export { canExportWholeAudit, canWriteTenant } from '../console/access.js';
export { appendAudit } from '../console/audit/log.js';
export { signedErrorUrl } from '../console/routes/sso.js';
export { newTotpSecret, totpUri } from '../console/auth/totp.js';
export { TENANT_SORTS, type TenantSort } from '../console/tenants/service.js';

export async function qrDataUrl(text: string): Promise<string> {
  return `data:image/svg+xml;base64,${Buffer.from(await qrSvg(text, { type: 'svg', margin: 1 })).toString('base64')}`;
}
