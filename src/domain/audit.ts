import { randomUUID } from "node:crypto";
import { MAILED_ACTIONS, markOutboxWritten, type OutboxPayload } from "./outbox.js";
import type { Tx } from "./tx.js";
import type { Viewer } from "./users.js";

/**
 * What the audit log records. `targetId` is the invite's or the link's id (`invite.*`, `link.*`), or
 * the member's user id (`member.*`).
 */
export const AUDIT_ACTIONS = [
  "invite.created",
  "invite.refreshed",
  "invite.revoked",
  "invite.accepted",
  "link.created",
  "link.updated",
  "link.revoked",
  "link.used",
  "member.joined_by_domain",
  "member.role_changed",
  "member.removed",
  "member.left",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Who made a change, and with which credential: an API token (`tokenId`) or a JWT (`subject`).
 * `userId` null: the operator (`npm run cli`), who is no user.
 */
export interface Actor {
  userId: string | null;
  tokenId: string | null;
  subject: string | null;
}

export function actorOf(viewer: Pick<Viewer, "id" | "tokenId" | "subject">): Actor {
  return { userId: viewer.id, tokenId: viewer.tokenId, subject: viewer.subject };
}

export interface AuditEntry {
  action: AuditAction;
  targetId: string;
  /** What else the event says (member.role_changed: `{ previousRole, role }`), in the log and the payload. */
  details?: AuditDetails;
}

export type AuditDetails = { previousRole: string; role: string };

/**
 * Records events in the caller's transaction (`tx`), so they commit or roll back with the change
 * they describe: the audit log, and the same events in the outbox (OutboxEvent, same id), which the
 * relay publishes to subscribers once the transaction has committed. Each outbox row is due for
 * webhook delivery (and, for MAILED_ACTIONS, for an email) from the start, on its own: a delivery
 * never waits for the publish (Redis down does not hold webhooks back), and does not depend on
 * which replica publishes. Two statements for any number of events, whatever the action.
 */
export async function recordAuditEvents(
  tx: Tx,
  organizationId: string,
  actor: Actor,
  entries: readonly AuditEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  const createdAt = new Date();
  const events = entries.map((entry) => ({
    id: randomUUID(),
    organizationId,
    action: entry.action,
    targetId: entry.targetId,
    actorId: actor.userId,
    createdAt,
    ...(entry.details ? { details: entry.details } : {}),
  }));
  await tx.auditEvent.createMany({
    data: events.map(({ details, ...event }) => ({
      ...event,
      ...(details ? { details } : {}),
      actorTokenId: actor.tokenId,
      actorSubject: actor.subject,
    })),
  });
  await tx.outboxEvent.createMany({
    data: events.map(({ details, ...event }) => {
      const payload: OutboxPayload = { ...event, ...(details ? { details } : {}), createdAt: createdAt.toISOString() };
      const emailed = MAILED_ACTIONS.includes(event.action);
      return {
        ...event,
        payload: { ...payload },
        webhookNextAttemptAt: createdAt,
        emailNextAttemptAt: emailed ? createdAt : null,
      };
    }),
  });
  markOutboxWritten(tx);
}
