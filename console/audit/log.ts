// Appends to the audit log inside the caller's transaction, so an entry
// exists exactly when the change it records was committed.
import { desc, sql } from 'drizzle-orm';
import type { ConsoleDb } from '../db/client.js';
import { auditLog } from '../db/schema.js';
import { GENESIS, entryHash, type ChainedEntry } from './chain.js';

export interface AuditRecord {
  actor: string;
  tenantId?: string | null;
  action: string;
  target: string;
  ip: string;
  before?: unknown;
  after?: unknown;
}

/** Any drizzle handle: the database or a transaction. */
type Tx = Pick<ConsoleDb, 'execute' | 'select' | 'insert'>;

// One writer at a time extends the chain; an advisory lock held to the end
// of the transaction serializes writers across console replicas too.
const CHAIN_LOCK = 0x686f6c64; // "hold"

export async function appendAudit(tx: Tx, record: AuditRecord): Promise<ChainedEntry> {
  await tx.execute(sql`select pg_advisory_xact_lock(${CHAIN_LOCK})`);
  const [last] = await tx
    .select({ seq: auditLog.seq, hash: auditLog.hash })
    .from(auditLog)
    .orderBy(desc(auditLog.seq))
    .limit(1);
  const unhashed = {
    seq: (last?.seq ?? 0) + 1,
    at: new Date().toISOString(),
    actor: record.actor,
    tenantId: record.tenantId ?? null,
    action: record.action,
    target: record.target,
    ip: record.ip,
    before: redact(record.before) ?? null,
    after: redact(record.after) ?? null,
    prevHash: last?.hash ?? GENESIS,
  };
  const entry = { ...unhashed, hash: entryHash(unhashed) };
  await tx.insert(auditLog).values(entry);
  return entry;
}

// Keys that hold secrets: passwordHash, clientSecret, totpSecret, token… (not totpRequired).
const SECRET_KEYS = /(password|secret|token|hash)$/i;

/** Values recorded before and after a change never include secrets, only that they changed. */
export function redact(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(redact);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET_KEYS.test(k) ? (v == null ? v : '[redacted]') : redact(v),
    ]),
  );
}
