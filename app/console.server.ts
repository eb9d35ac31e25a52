// The console modules the routes use, behind the `.server` boundary so that
// none of them can reach the browser bundle.
import { toString as qrSvg } from 'qrcode';

export { canExportWholeAudit, canWriteTenant } from '../console/access.js';
export { appendAudit } from '../console/audit/log.js';
export { signedErrorUrl } from '../console/routes/sso.js';
export { newTotpSecret, totpUri } from '../console/auth/totp.js';
export { testConnection } from '../console/tenants/connection-test.js';
export { TENANT_SORTS, type TenantSort } from '../console/tenants/service.js';
export { OVERVIEW_SORTS, overview, type OverviewSort } from '../console/tenants/overview.js';
export { SETTING_FIELDS, settingsFromForm } from '../console/tenants/workspace-settings.js';
export { createdByConsole, settingsOf } from '../console/tenants/workspaces.js';
export { workspaceStatusView, type WorkspaceEvent, type WorkspaceStatusView } from '../console/workspaces.js';

export async function qrDataUrl(text: string): Promise<string> {
  return `data:image/svg+xml;base64,${Buffer.from(await qrSvg(text, { type: 'svg', margin: 1 })).toString('base64')}`;
}
