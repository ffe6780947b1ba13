import { z } from "zod";
import { type Invite, type MemberRole, Prisma, type PrismaClient, type User } from "../generated/prisma/client.js";
import { InviteState } from "../generated/prisma/enums.js";
import { type Actor, type AuditEntry, recordAuditEvents } from "./audit.js";
import { InviteAlreadyAcceptedError, NotFoundError, RateLimitedError } from "./errors.js";
import { newSecretId } from "./ids.js";
import { roleSchema } from "./roles.js";
import { inTransaction, lockInvites, type Tx } from "./tx.js";
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
 * PENDING invite: the partial unique index rejects the loser, whose transaction is retried.
 */
export async function inviteUsers(
  db: PrismaClient,
  args: { organizationId: string; actor: Actor; input: InviteUsersInput },
  settings: InviteSettings,
): Promise<InviteUsersResult> {
  const { invitees, sso } = parse(inviteUsersInputSchema, args.input, ["input"]);
  return inTransaction(
    db,
    async (tx) => {
      const now = new Date();
      const emails = invitees.map((i) => i.email);
      // Lock the PENDING invites first: a join or revoke of one of them waits for this call, and
      // the membership check below sees every join that committed before.
      const pendingIds = await lockInvites(tx, args.organizationId, { pendingEmails: emails });
      const members = await tx.user.findMany({
        where: { email: { in: emails }, memberships: { some: { organizationId: args.organizationId } } },
        select: { email: true },
      });
      const memberEmails = new Set(members.map((m) => m.email));
      const toInvite = invitees.filter((i) => !memberEmails.has(i.email));
      const alreadyMembers = emails.filter((e) => memberEmails.has(e));
      if (toInvite.length === 0) return { users: [], invited: 0, failedSSOEmails: [], invites: [], alreadyMembers };

      await consumeInviteQuota(tx, args.organizationId, toInvite.length, settings.dailyLimit, now);
      const users = await ensureUsers(
        tx,
        toInvite.map((i) => i.email),
      );
      const failedSSO = sso ? await ssoMembersElsewhere(tx, args.organizationId, toInvite) : new Set<string>();
      const pending =
        pendingIds.length > 0
          ? await tx.invite.findMany({ where: { id: { in: pendingIds } }, select: { id: true, email: true } })
          : [];
      const pendingId = new Map(pending.map((p) => [p.email, p.id]));
      const expiresAt = new Date(now.getTime() + settings.ttlMs);
      const ids: string[] = [];
      const fresh: Prisma.InviteCreateManyInput[] = [];
      const events: AuditEntry[] = [];
      for (const { email, role } of toInvite) {
        const data = {
          role,
          sso: sso && !failedSSO.has(email),
          expiresAt,
          invitedById: args.actor.userId,
          userId: users.get(email)?.id ?? null,
        };
        const existing = pendingId.get(email);
        if (existing) {
          await tx.invite.update({ where: { id: existing }, data });
          ids.push(existing);
          events.push({ action: "invite.refreshed", targetId: existing });
        } else {
          const id = newSecretId();
          fresh.push({ id, organizationId: args.organizationId, email, ...data });
          ids.push(id);
          events.push({ action: "invite.created", targetId: id });
        }
      }
      if (fresh.length > 0) await tx.invite.createMany({ data: fresh });
      await recordAuditEvents(tx, args.organizationId, args.actor, events);
      const invites = await tx.invite.findMany({ where: { id: { in: ids } } });
      const byId = new Map(invites.map((i) => [i.id, i]));
      return {
        users: toInvite.map((i) => users.get(i.email)).filter((u): u is User => u !== undefined),
        invited: ids.length,
        failedSSOEmails: toInvite.map((i) => i.email).filter((e) => failedSSO.has(e)),
        invites: ids.map((id) => byId.get(id)).filter((i): i is Invite => i !== undefined),
        alreadyMembers,
      };
    },
    { retries: 3 },
  );
}

/** Counts `count` invites against the organization's daily quota, or fails the whole call. */
async function consumeInviteQuota(tx: Tx, organizationId: string, count: number, limit: number, now: Date) {
  const day = now.toISOString().slice(0, 10);
  const rows =
    count > limit
      ? []
      : await tx.$queryRaw<{ count: number }[]>`
          INSERT INTO "InviteQuota" ("organizationId", "day", "count")
          VALUES (${organizationId}, ${day}::date, ${count}::int)
          ON CONFLICT ("organizationId", "day") DO UPDATE
            SET "count" = "InviteQuota"."count" + EXCLUDED."count"
            WHERE "InviteQuota"."count" + EXCLUDED."count" <= ${limit}::int
          RETURNING "count"`;
  if (rows.length === 0) {
    throw new RateLimitedError(
      `This organization may send ${limit} invites a day; ${count} more would pass that limit. Try again tomorrow (UTC).`,
    );
  }
}

/** The user of each email, created (unverified) when unknown. */
async function ensureUsers(tx: Tx, emails: string[]): Promise<Map<string, User>> {
  await tx.user.createMany({ data: emails.map((email) => ({ email })), skipDuplicates: true });
  const users = await tx.user.findMany({ where: { email: { in: emails } } });
  return new Map(users.map((u) => [u.email as string, u]));
}

/** Emails of users who are SSO members of another organization: they cannot be SSO-invited here. */
async function ssoMembersElsewhere(
  tx: Tx,
  organizationId: string,
  invitees: Array<{ email: string }>,
): Promise<Set<string>> {
  const rows = await tx.user.findMany({
    where: {
      email: { in: invitees.map((i) => i.email) },
      memberships: { some: { sso: true, organizationId: { not: organizationId } } },
    },
    select: { email: true },
  });
  return new Set(rows.map((r) => r.email as string));
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
