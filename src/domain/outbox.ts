import type { PrismaClient } from "../generated/prisma/client.js";

/** The actions whose invite is emailed (SMTP_URL): their rows are due for an email when written. */
export const MAILED_ACTIONS: readonly string[] = ["invite.created", "invite.refreshed"];

/**
 * The event as it leaves the service: the body of a webhook POST, and what the outbox row's
 * `payload` holds. Fixed when the change committed.
 */
export interface OutboxPayload {
  /** The audit event's id: the same on every delivery of this event (deduplicate on it). */
  id: string;
  action: string;
  organizationId: string;
  /** The invite's or link's id (`invite.*`, `link.*`), or the member's user id (`member.*`). */
  targetId: string | null;
  /** member.role_changed only: the member's role before and after (`{ "previousRole": "ADMIN", "role": "EDIT" }`). */
  details?: { previousRole: string; role: string };
  /** Who made the change; null once that user is deleted. */
  actorId: string | null;
  /** ISO 8601, UTC. */
  createdAt: string;
}

/**
 * Transactions that wrote outbox rows (recordAuditEvents marks them). inTransaction asks after the
 * commit, and wakes the relay of the same client at once instead of letting it wait for its next poll.
 */
const wroteOutbox = new WeakSet<object>();
const listeners = new WeakMap<PrismaClient, Set<() => void>>();

export function markOutboxWritten(tx: object): void {
  wroteOutbox.add(tx);
}

/** Called by inTransaction after a commit: wakes the listeners of `db` if `tx` wrote outbox rows. */
export function afterCommit(db: PrismaClient, tx: object): void {
  if (!wroteOutbox.has(tx)) return;
  wroteOutbox.delete(tx);
  outboxCommitted(db);
}

/**
 * Wakes the listeners of `db`: outbox rows were committed. For a change written as one statement
 * outside inTransaction (src/domain/invites.ts), which calls it once that statement has returned.
 */
export function outboxCommitted(db: PrismaClient): void {
  for (const listener of listeners.get(db) ?? []) listener();
}

/** `listener` runs after each commit of `db` that wrote outbox rows. Returns the unsubscribe. */
export function onOutboxCommit(db: PrismaClient, listener: () => void): () => void {
  let set = listeners.get(db);
  if (!set) {
    set = new Set();
    listeners.set(db, set);
  }
  set.add(listener);
  return () => set.delete(listener);
}
