// Reading the audit log: pages for the console, and the whole chain as JSON
// Lines for auditors, which `holdfast audit verify` checks offline.
import { asc, count, desc, eq, gt } from 'drizzle-orm';
import { canExportWholeAudit, Forbidden, type Viewer } from '../access.js';
import type { ConsoleDb } from '../db/client.js';
import { auditLog, type AuditEntry } from '../db/schema.js';
import { appendAudit } from './log.js';
import type { Page } from '../tenants/service.js';

export class AuditLog {
  constructor(private readonly db: ConsoleDb) {}

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

  /** Every entry in order, in batches; the export itself is recorded first. */
  async *exportLines(viewer: Viewer, ip: string): AsyncGenerator<string> {
    if (!canExportWholeAudit(viewer))
      throw new Forbidden('only platform administrators and cluster-wide auditors can export the whole audit log');
    await this.db.transaction((tx) =>
      appendAudit(tx, { actor: viewer.email, action: 'audit.exported', target: 'audit-log', ip }),
    );
    let after = 0;
    for (;;) {
      const batch = await this.db
        .select()
        .from(auditLog)
        .where(gt(auditLog.seq, after))
        .orderBy(asc(auditLog.seq))
        .limit(1000);
      for (const entry of batch) yield `${JSON.stringify(entry)}\n`;
      if (batch.length < 1000) return;
      after = batch[batch.length - 1]!.seq;
    }
  }
}
