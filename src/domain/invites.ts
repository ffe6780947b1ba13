import { z } from "zod";
import { type Invite, type MemberRole, Prisma, type PrismaClient, type User } from "../generated/prisma/client.js";
import { InviteState } from "../generated/prisma/enums.js";
import { type Actor, recordAuditEvents } from "./audit.js";
import { InviteAlreadyAcceptedError, NotFoundError, RateLimitedError } from "./errors.js";
import { type InviteRow, inviteStatement } from "./invite-statement.js";
import { outboxCommitted } from "./outbox.js";
import { roleSchema } from "./roles.js";
import { inTransaction, isConflict, lockInvites } from "./tx.js";
import { emailSchema, idSchema, parse } from "./validation.js";

export const MAX_EMAILS_PER_CALL = 100;

/** What clients see: a PENDING invite past its expiry reads as EXPIRED everywhere. */
export type InviteStatus = "PENDING" | "ACCEPTED" | "REVOKED" | "EXPIRED";

export function inviteStatus(invite: Pick<Invite, "status" | "expiresAt">, now = new Date()): InviteStatus {
  if (invite.status === InviteState.PENDING && invite.expiresAt <= now) return "EXPIRED";
  return invite.status;
}

/** Every column of Invite as `i."<column>"`, the enums as text (how Prisma reads them). */
const INVITE_COLUMNS = Prisma.raw(
  Object.values(Prisma.InviteScalarFieldEnum)
    .map((column) =>
      column === "role" || column === "status" ? `i."${column}"::text AS "${column}"` : `i."${column}"`,
    )
    .join(", "),
);

/**
 * The first `take` invites of an organization, newest first, and how many it has in all: one
 * statement (a window count), plain rows. A findMany and a count would be two; the organization's
 * relation with its `_count` (relationJoins) one, but PostgreSQL then builds, sorts and aggregates a
 * JSON object per invite of the organization.
 */
export async function firstInvitePage(
  db: PrismaClient,
  organizationId: string,
  take: number,
): Promise<{ invites: Invite[]; totalCount: number }> {
  const rows = await db.$queryRaw<Array<Invite & { totalCount: bigint }>>`
    SELECT ${INVITE_COLUMNS}, count(*) OVER () AS "totalCount" FROM "Invite" i
    WHERE i."organizationId" = ${organizationId}
    ORDER BY i."createdAt" DESC, i."id" DESC LIMIT ${take}`;
  const totalCount = rows[0] ? Number(rows[0].totalCount) : 0;
  return { invites: rows.map(({ totalCount: _, ...invite }) => invite), totalCount };
}

/** The Prisma filter for one client-visible status. */
export function inviteStatusWhere(status: InviteStatus, now = new Date()): Prisma.InviteWhereInput {
  switch (status) {
    case "PENDING":
      return { status: InviteState.PENDING, expiresAt: { gt: now } };
    case "EXPIRED":
      return { status: InviteState.PENDING, expiresAt: { lte: now } };
    default:
      return { status };
  }
}

export const inviteUsersInputSchema = z
  .object({
    emails: z.array(emailSchema).nullish(),
    invitees: z.array(z.object({ email: emailSchema, role: roleSchema })).nullish(),
    role: roleSchema.nullish(),
    sso: z.boolean().nullish(),
  })
  .transform((input, ctx) => {
    // Duplicates collapse; an invitee's own role wins over the default role.
    const defaultRole = input.role ?? "READ";
    const byEmail = new Map<string, MemberRole>();
    for (const email of input.emails ?? []) byEmail.set(email, defaultRole);
    for (const invitee of input.invitees ?? []) byEmail.set(invitee.email, invitee.role);
    if (byEmail.size < 1 || byEmail.size > MAX_EMAILS_PER_CALL) {
      ctx.addIssue({
        code: "custom",
        path: ["emails"],
        message: `Invite between 1 and ${MAX_EMAILS_PER_CALL} distinct emails per call (got ${byEmail.size})`,
      });
      return z.NEVER;
    }
    return { invitees: [...byEmail].map(([email, role]) => ({ email, role })), sso: input.sso ?? false };
  });

export type InviteUsersInput = z.input<typeof inviteUsersInputSchema>;

export interface InviteUsersResult {
  users: User[];
  invited: number;
  failedSSOEmails: string[];
  invites: Invite[];
  alreadyMembers: string[];
}

export interface InviteSettings {
  ttlMs: number;
  dailyLimit: number;
}

/**
 * Invites emails into an organization, all or nothing. Members go to `alreadyMembers`; a PENDING
 * invite (expired or not) is refreshed in place (same id, new role and expiry); other emails get a
 * new invite and, if unknown, a user record. Concurrent calls for one email converge on one
 * PENDING invite: the partial unique index rejects the loser, which is retried.
 *
 * One SQL statement (src/domain/invite-statement.ts): a single statement is its own transaction, so the quota, the
 * users, the invites and their audit and outbox rows commit together or not at all, with no
 * BEGIN/COMMIT round trips and one Prisma call instead of ten.
 */
export async function inviteUsers(
  db: PrismaClient,
  args: { organizationId: string; actor: Actor; input: InviteUsersInput },
  settings: InviteSettings,
): Promise<InviteUsersResult> {
  const { invitees, sso } = parse(inviteUsersInputSchema, args.input, ["input"]);
  for (let attempt = 0; ; attempt++) {
    let rows: InviteRow[];
    try {
      rows = await inviteStatement(db, args.organizationId, args.actor, invitees, sso, settings);
    } catch (error) {
      if (attempt < MAX_RETRIES && isConflict(error)) continue;
      throw error;
    }
    // A PENDING invite of the snapshot changed (joined, revoked) while the statement waited for its
    // lock: the membership check may be stale, and nothing was written. Again, with a new snapshot.
    if (rows[0]?.conflict) {
      if (attempt < MAX_RETRIES) continue;
      throw new Error("inviteUsers: the invites kept changing under a concurrent writer");
    }
    return inviteResult(db, rows, settings.dailyLimit);
  }
}

const MAX_RETRIES = 3;

function inviteResult(db: PrismaClient, rows: InviteRow[], dailyLimit: number): InviteUsersResult {
  const alreadyMembers = rows.filter((r) => r.member).map((r) => r.email);
  const toInvite = rows.filter((r) => !r.member);
  if (toInvite.length === 0) return { users: [], invited: 0, failedSSOEmails: [], invites: [], alreadyMembers };
  if (!rows[0]?.quotaOk) {
    throw new RateLimitedError(
      `This organization may send ${dailyLimit} invites a day; ${toInvite.length} more would pass that limit. Try again tomorrow (UTC).`,
    );
  }
  outboxCommitted(db);
  const invites: Invite[] = [];
  const users: User[] = [];
  for (const r of toInvite) {
    if (!r.id || !r.uId) throw new Error(`inviteUsers: no invite was written for ${r.email}`);
    invites.push({
      id: r.id,
      organizationId: r.organizationId,
      email: r.email,
      role: r.role,
      sso: r.sso,
      status: r.status,
      userId: r.userId,
      invitedById: r.invitedById,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      expiresAt: r.expiresAt,
      acceptedAt: r.acceptedAt,
      revokedAt: r.revokedAt,
    });
    users.push({
      id: r.uId,
      email: r.email,
      displayName: r.uDisplayName,
      emailVerified: r.uEmailVerified,
      jwtSubject: r.uJwtSubject,
      createdAt: r.uCreatedAt,
      updatedAt: r.uUpdatedAt,
    });
  }
  return {
    users,
    invited: invites.length,
    failedSSOEmails: toInvite.filter((r) => r.ssoFailed).map((r) => r.email),
    invites,
    alreadyMembers,
  };
}

/** Revokes a PENDING (or expired) invite. Revoking twice is harmless; an accepted invite stays. */
export async function revokeInvite(
  db: PrismaClient,
  args: { organizationId: string; inviteId: string; actor: Actor },
): Promise<Invite> {
  parse(idSchema, args.inviteId, ["inviteId"]);
  return inTransaction(db, async (tx) => {
    await lockInvites(tx, args.organizationId, { ids: [args.inviteId] });
    const invite = await tx.invite.findFirst({ where: { id: args.inviteId, organizationId: args.organizationId } });
    if (!invite) throw new NotFoundError("No such invite in this organization");
    if (invite.status === InviteState.ACCEPTED)
      throw new InviteAlreadyAcceptedError("This invite was accepted already; it can no longer be revoked");
    if (invite.status === InviteState.REVOKED) return invite;
    const revoked = await tx.invite.update({
      where: { id: invite.id },
      data: { status: InviteState.REVOKED, revokedAt: new Date() },
    });
    await recordAuditEvents(tx, args.organizationId, args.actor, [{ action: "invite.revoked", targetId: invite.id }]);
    return revoked;
  });
}
