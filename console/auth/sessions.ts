// Server-side sessions. The cookie holds a random token; the database holds
// only its hash. A session is replaced by a new one at every step of signing
// in, ends after an idle period and after an absolute lifetime, and all of a
// user's sessions end when their password changes.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, lt, ne, or, sql } from 'drizzle-orm';
import type { ConsoleDb } from '../db/client.js';
import { sessions, users, type Session, type SessionStage, type User } from '../db/schema.js';

export interface SessionTimeouts {
  idleMs: number;
  absoluteMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };

export interface ActiveSession {
  token: string;
  session: Session;
  user: User;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * How long a page view may trust a session checked before: a change (any
 * request but GET and HEAD) always checks it again. This console's own
 * sign-outs and revocations take effect at once; another replica's within
 * this long, for viewing only.
 */
export const SESSION_RECHECK_MS = 1_000;

type SessionRow = { sessions: Session; users: User };

export class SessionStore {
  /** Every request resolves its session: the statement is built once. */
  private readonly lookup;
  /** Sessions found in the last SESSION_RECHECK_MS, by token hash. */
  private readonly recent = new Map<string, { at: number; row: SessionRow }>();

  constructor(
    private readonly db: ConsoleDb,
    private readonly timeouts: SessionTimeouts = DEFAULT_TIMEOUTS,
  ) {
    this.lookup = db
      .select()
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.idHash, sql.placeholder('idHash')))
      .prepare('holdfast_session_lookup');
  }

  /** Idle too long, past its lifetime, or its user disabled. */
  private ended({ sessions: session, users: user }: SessionRow, now: Date): boolean {
    const idle = now.getTime() - session.lastSeenAt.getTime() > this.timeouts.idleMs;
    const old = now.getTime() - session.createdAt.getTime() > this.timeouts.absoluteMs;
    return idle || old || user.disabled;
  }

  /**
   * Whether a session is still open, for a long-lived response (a live
   * stream) that checks again now and then; unlike `resolve`, this is not
   * activity and does not keep the session from going idle.
   */
  async isOpen(token: string, now = new Date()): Promise<boolean> {
    const [row] = await this.lookup.execute({ idHash: hashToken(token) });
    return row !== undefined && !this.ended(row, now);
  }

  async create(
    user: User,
    stage: SessionStage,
    method: string,
    client: { ip: string; userAgent: string },
    replaces?: string,
  ): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.db.transaction(async (tx) => {
      if (replaces) {
        this.recent.delete(hashToken(replaces));
        await tx.delete(sessions).where(eq(sessions.idHash, hashToken(replaces)));
      }
      await tx.insert(sessions).values({
        idHash: hashToken(token),
        userId: user.id,
        stage,
        method,
        ip: client.ip,
        userAgent: client.userAgent.slice(0, 300),
      });
    });
    return token;
  }

  /**
   * The session and its user, or undefined when unknown, expired or the user
   * is disabled. `forViewing`: a session found within SESSION_RECHECK_MS
   * will do (a page view); otherwise the database says.
   */
  async resolve(
    token: string | undefined,
    now = new Date(),
    opts: { forViewing?: boolean } = {},
  ): Promise<ActiveSession | undefined> {
    if (!token || token.length > 100) return undefined;
    const idHash = hashToken(token);
    const seen = opts.forViewing ? this.recent.get(idHash) : undefined;
    let row: SessionRow | undefined;
    if (seen && now.getTime() - seen.at < SESSION_RECHECK_MS) row = seen.row;
    else {
      [row] = await this.lookup.execute({ idHash });
      if (this.recent.size >= 10_000) this.recent.clear();
      if (row) this.recent.set(idHash, { at: now.getTime(), row });
      else this.recent.delete(idHash);
    }
    if (!row) return undefined;
    const { sessions: session, users: user } = row;
    if (this.ended(row, now)) {
      this.recent.delete(idHash);
      await this.db.delete(sessions).where(eq(sessions.idHash, session.idHash));
      return undefined;
    }
    // Touch at most once a minute (a page load is not a write), and within
    // half the idle period, so that a session in use never looks idle.
    if (now.getTime() - session.lastSeenAt.getTime() > Math.min(60_000, this.timeouts.idleMs / 2)) {
      await this.db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.idHash, session.idHash));
      row.sessions = { ...session, lastSeenAt: now };
    }
    return { token, session: row.sessions, user };
  }

  async revoke(token: string): Promise<void> {
    this.recent.delete(hashToken(token));
    await this.db.delete(sessions).where(eq(sessions.idHash, hashToken(token)));
  }

  /** Ends every session of the user except, optionally, the one in use. */
  async revokeUser(userId: string, keep?: string): Promise<void> {
    const kept = keep ? hashToken(keep) : undefined;
    for (const [idHash, { row }] of this.recent)
      if (row.users.id === userId && idHash !== kept) this.recent.delete(idHash);
    await this.db
      .delete(sessions)
      .where(and(eq(sessions.userId, userId), keep ? ne(sessions.idHash, hashToken(keep)) : undefined));
  }

  async purgeExpired(now = new Date()): Promise<void> {
    this.recent.clear();
    await this.db
      .delete(sessions)
      .where(
        or(
          lt(sessions.lastSeenAt, new Date(now.getTime() - this.timeouts.idleMs)),
          lt(sessions.createdAt, new Date(now.getTime() - this.timeouts.absoluteMs)),
        ),
      );
  }
}

/**
 * CSRF tokens bound to the session (or, before sign-in, to a random cookie):
 * an HMAC that a page from another origin can neither read nor compute.
 */
export class CsrfTokens {
  constructor(private readonly key: Buffer) {}

  issue(binding: string): string {
    return createHmac('sha256', this.key).update(`csrf:${binding}`).digest('base64url');
  }

  check(binding: string | undefined, token: string | undefined): boolean {
    if (!binding || !token) return false;
    return same(this.issue(binding), token);
  }

  /**
   * An HMAC for another purpose than CSRF. Its input never starts with
   * `csrf:`, so no CSRF token (whose binding can be an anonymous cookie the
   * visitor chose) ever stands in for it, nor the other way round.
   */
  keyed(purpose: 'notice' | 'address', value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\0${value}`).digest('base64url');
  }

  checkKeyed(purpose: 'notice' | 'address', value: string, token: string | undefined): boolean {
    return token !== undefined && same(this.keyed(purpose, value), token);
  }
}

function same(want: string, got: string): boolean {
  const a = Buffer.from(want);
  const b = Buffer.from(got);
  return a.length === b.length && timingSafeEqual(a, b);
}
