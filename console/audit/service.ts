// Reading the audit log: pages for the console, and the whole chain as JSON
// Lines for auditors, closed by a signed statement of its size and head,
// which `holdfast audit verify` checks offline.
import type { KeyObject } from 'node:crypto';
import { asc, count, desc, eq, gt } from 'drizzle-orm';
import { canExportWholeAudit, Forbidden, type Viewer } from '../access.js';
import type { ConsoleDb } from '../db/client.js';
import { auditLog, type AuditEntry } from '../db/schema.js';
import { GENESIS, canonicalJson } from './chain.js';
import { publicKeyText, signHead } from './head.js';
import { appendAudit } from './log.js';
import type { SecretBox } from '../secret-box.js';
import { auditSigningKey } from './signing-key.js';
import type { Page } from '../tenants/service.js';

export class AuditLog {
  private signingKey: Promise<KeyObject> | undefined;

  /** signingKeyPem: HOLDFAST_AUDIT_SIGNING_KEY; without it, a key kept in the console database. */
  constructor(
    private readonly db: ConsoleDb,
    private readonly secrets: SecretBox,
    private readonly signingKeyPem?: string,
  ) {}

  private key(): Promise<KeyObject> {
    this.signingKey ??= auditSigningKey(this.db, this.signingKeyPem, this.secrets);
    return this.signingKey;
  }

  /** The key exports are signed with, as auditors pin it (`ed25519:…`). */
  async publicKey(): Promise<string> {
    return publicKeyText(await this.key());
  }

  async list(viewer: Viewer, opts: { page?: number; pageSize?: number } = {}): Promise<Page<AuditEntry>> {
    if (viewer.role === 'tenant-admin' || viewer.role === 'auditor' || viewer.role === 'platform-admin') {
      const pageSize = Math.min(Math.max(opts.pageSize ?? 50, 1), 200);
      const page = Math.max(opts.page ?? 1, 1);
      const scope = viewer.tenantId === null ? undefined : eq(auditLog.tenantId, viewer.tenantId);
      const items = await this.db
        .select()
        .from(auditLog)
        .where(scope)
        .orderBy(desc(auditLog.seq))
        .limit(pageSize)
        .offset((page - 1) * pageSize);
      const [total] = await this.db.select({ n: count() }).from(auditLog).where(scope);
      return { items, total: total?.n ?? 0, page, pageSize };
    }
    throw new Forbidden('your role cannot read the audit log');
  }

  /** Every entry in order, in batches, then the signed head; the export itself is recorded first. */
  async *exportLines(viewer: Viewer, ip: string): AsyncGenerator<string> {
    if (!canExportWholeAudit(viewer))
      throw new Forbidden('only platform administrators and cluster-wide auditors can export the whole audit log');
    await this.db.transaction((tx) =>
      appendAudit(tx, { actor: viewer.email, action: 'audit.exported', target: 'audit-log', ip }),
    );
    const key = await this.key();
    let entries = 0;
    let head = GENESIS;
    let after = 0;
    for (;;) {
      const batch = await this.db
        .select()
        .from(auditLog)
        .where(gt(auditLog.seq, after))
        .orderBy(asc(auditLog.seq))
        .limit(1000);
      for (const entry of batch) yield `${JSON.stringify(entry)}\n`;
      entries += batch.length;
      if (batch.length === 0) break;
      ({ seq: after, hash: head } = batch.at(-1)!);
      if (batch.length < 1000) break;
    }
    yield `${canonicalJson(signHead(key, entries, head))}\n`;
  }
}
