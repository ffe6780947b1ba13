import type { Tx } from "./tx.js";
import type { Viewer } from "./users.js";

/** What the audit log records. `targetId` is the invite's or the link's id, or the joining user's id (`member.joined_by_domain`). */
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
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who made a change, and with which credential: an API token (`tokenId`) or a JWT (`subject`). */
export interface Actor {
  userId: string;
  tokenId: string | null;
  subject: string | null;
}

export function actorOf(viewer: Pick<Viewer, "id" | "tokenId" | "subject">): Actor {
  return { userId: viewer.id, tokenId: viewer.tokenId, subject: viewer.subject };
}

export interface AuditEntry {
  action: AuditAction;
  targetId: string;
}

/**
 * Records events in the caller's transaction (`tx`), so they commit or roll back with the change
 * they describe. One statement for any number of events.
 */
export async function recordAuditEvents(
  tx: Tx,
  organizationId: string,
  actor: Actor,
  entries: readonly AuditEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  await tx.auditEvent.createMany({
    data: entries.map((entry) => ({
      organizationId,
      action: entry.action,
      targetId: entry.targetId,
      actorId: actor.userId,
      actorTokenId: actor.tokenId,
      actorSubject: actor.subject,
    })),
  });
}
