import { randomUUID } from "node:crypto";
import { z } from "zod";
import { type Invite, type MemberRole, Prisma, type PrismaClient, type User } from "../generated/prisma/client.js";
import { InviteState } from "../generated/prisma/enums.js";
import { type Actor, type AuditAction, recordAuditEvents } from "./audit.js";
import { InviteAlreadyAcceptedError, NotFoundError, RateLimitedError } from "./errors.js";
import { newSecretId } from "./ids.js";
import { MAILED_ACTIONS, outboxCommitted } from "./outbox.js";
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
 * One SQL statement (inviteStatement): a single statement is its own transaction, so the quota, the
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

/** One row per distinct email, in the order given; invite and user columns are null when none was written. */
interface InviteRow {
  email: string;
  member: boolean;
  ssoFailed: boolean;
  conflict: boolean;
  quotaOk: boolean;
  toInvite: number;
  action: "invite.created" | "invite.refreshed" | null;
  id: string | null;
  organizationId: string;
  role: MemberRole;
  sso: boolean;
  status: InviteState;
  userId: string | null;
  invitedById: string | null;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date;
  acceptedAt: Date | null;
  revokedAt: Date | null;
  uId: string | null;
  uDisplayName: string | null;
  uEmailVerified: boolean;
  uJwtSubject: string | null;
  uCreatedAt: Date;
  uUpdatedAt: Date;
}

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

/**
 * The whole call as one statement, step by step as data-modifying CTEs:
 * - lock the PENDING invites of these emails (FOR UPDATE): a concurrent join, revoke or refresh of
 *   one of them waits for this statement. If one changed while we waited (it is in the statement's
 *   snapshot but no longer PENDING once locked), `conflict` is true and nothing is written: the
 *   caller runs the statement again, whose snapshot then sees that join;
 * - the membership and SSO checks;
 * - the daily quota (`count` more, or no row: RATE_LIMITED, and every write below is skipped);
 * - the users (created unverified when unknown; ON CONFLICT DO UPDATE returns a user that a
 *   concurrent call committed after the snapshot, where DO NOTHING would return nothing);
 * - the invites: refreshed in place, or created (a concurrent PENDING invite of the same email is a
 *   unique violation: the caller retries);
 * - one audit event and one outbox row (the same id, see recordAuditEvents) per invite.
 */
function inviteStatement(
  db: PrismaClient,
  organizationId: string,
  actor: Actor,
  invitees: Array<{ email: string; role: MemberRole }>,
  sso: boolean,
  settings: InviteSettings,
): Promise<InviteRow[]> {
  const now = new Date();
  const nowIso = now.toISOString();
  const expiresAt = new Date(now.getTime() + settings.ttlMs).toISOString();
  const emails = invitees.map((i) => i.email);
  const roles = invitees.map((i) => i.role);
  const inviteIds = invitees.map(() => newSecretId());
  const eventIds = invitees.map(() => randomUUID());
  const userIds = invitees.map(() => randomUUID());
  const mailed = (action: AuditAction) => MAILED_ACTIONS.includes(action);
  return db.$queryRaw<InviteRow[]>`
    WITH input AS (
      SELECT * FROM unnest(${emails}::text[], ${roles}::text[], ${inviteIds}::text[], ${eventIds}::text[],
        ${userIds}::text[]) WITH ORDINALITY AS t("email", "role", "inviteId", "eventId", "userId", "ord")
    ),
    snap AS (
      SELECT "id" FROM "Invite" WHERE "organizationId" = ${organizationId} AND "status" = 'PENDING'
        AND "email" = ANY(${emails}::text[])
    ),
    locked AS (
      SELECT "id", "email" FROM "Invite" WHERE "organizationId" = ${organizationId} AND "status" = 'PENDING'
        AND "email" = ANY(${emails}::text[]) ORDER BY "id" FOR UPDATE
    ),
    conflict AS (SELECT EXISTS (SELECT 1 FROM snap WHERE "id" NOT IN (SELECT "id" FROM locked)) AS "conflict"),
    checked AS (
      SELECT i.*, l."id" AS "pendingId",
        EXISTS (SELECT 1 FROM "User" u JOIN "Member" m ON m."userId" = u."id"
          WHERE u."email" = i."email" AND m."organizationId" = ${organizationId}) AS "member",
        ${sso}::boolean AND EXISTS (SELECT 1 FROM "User" u JOIN "Member" m ON m."userId" = u."id"
          WHERE u."email" = i."email" AND m."sso" AND m."organizationId" <> ${organizationId}) AS "ssoFailed"
      FROM input i LEFT JOIN locked l ON l."email" = i."email"
    ),
    wanted AS (SELECT count(*)::int AS "n" FROM checked WHERE NOT "member"),
    quota AS (
      INSERT INTO "InviteQuota" ("organizationId", "day", "count")
      SELECT ${organizationId}, ${nowIso.slice(0, 10)}::date, "n" FROM wanted
        WHERE "n" > 0 AND "n" <= ${settings.dailyLimit}::int AND NOT (SELECT "conflict" FROM conflict)
      ON CONFLICT ("organizationId", "day") DO UPDATE
        SET "count" = "InviteQuota"."count" + EXCLUDED."count"
        WHERE "InviteQuota"."count" + EXCLUDED."count" <= ${settings.dailyLimit}::int
      RETURNING "count"
    ),
    users AS (
      INSERT INTO "User" ("id", "email", "emailVerified", "createdAt", "updatedAt")
      SELECT "userId", "email", false, ${nowIso}::timestamp, ${nowIso}::timestamp FROM checked
        WHERE NOT "member" AND EXISTS (SELECT 1 FROM quota) ORDER BY "email"
      ON CONFLICT ("email") DO UPDATE SET "email" = EXCLUDED."email"
      RETURNING *
    ),
    refreshed AS (
      UPDATE "Invite" v SET "role" = c."role"::"MemberRole", "sso" = ${sso}::boolean AND NOT c."ssoFailed",
        "expiresAt" = ${expiresAt}::timestamp, "invitedById" = ${actor.userId}, "userId" = u."id",
        "updatedAt" = ${nowIso}::timestamp
      FROM checked c JOIN users u ON u."email" = c."email" WHERE v."id" = c."pendingId"
      RETURNING v.*
    ),
    created AS (
      INSERT INTO "Invite" ("id", "organizationId", "email", "role", "sso", "status", "userId", "invitedById",
        "createdAt", "updatedAt", "expiresAt")
      SELECT c."inviteId", ${organizationId}, c."email", c."role"::"MemberRole", ${sso}::boolean AND NOT c."ssoFailed",
        'PENDING'::"InviteState", u."id", ${actor.userId}, ${nowIso}::timestamp, ${nowIso}::timestamp,
        ${expiresAt}::timestamp
      FROM checked c JOIN users u ON u."email" = c."email" WHERE c."pendingId" IS NULL ORDER BY c."ord"
      RETURNING *
    ),
    invites AS (
      SELECT *, 'invite.refreshed' AS "action" FROM refreshed UNION ALL SELECT *, 'invite.created' FROM created
    ),
    events AS (
      SELECT c."eventId" AS "id", i."id" AS "targetId", i."action", c."ord"
      FROM invites i JOIN checked c ON c."email" = i."email"
    ),
    audit AS (
      INSERT INTO "AuditEvent" ("id", "organizationId", "action", "actorId", "actorTokenId", "actorSubject",
        "targetId", "createdAt")
      SELECT "id", ${organizationId}, "action", ${actor.userId}, ${actor.tokenId}::text, ${actor.subject}::text,
        "targetId", ${nowIso}::timestamp FROM events ORDER BY "ord"
    ),
    outbox AS (
      INSERT INTO "OutboxEvent" ("id", "organizationId", "action", "targetId", "actorId", "payload", "createdAt",
        "webhookNextAttemptAt", "emailNextAttemptAt")
      SELECT "id", ${organizationId}, "action", "targetId", ${actor.userId},
        jsonb_build_object('id', "id", 'organizationId', ${organizationId}::text, 'action', "action",
          'targetId', "targetId", 'actorId', ${actor.userId}::text, 'createdAt', ${nowIso}::text),
        ${nowIso}::timestamp, ${nowIso}::timestamp,
        CASE WHEN ("action" = 'invite.created' AND ${mailed("invite.created")}::boolean)
          OR ("action" = 'invite.refreshed' AND ${mailed("invite.refreshed")}::boolean)
          THEN ${nowIso}::timestamp END
      FROM events ORDER BY "ord"
    )
    SELECT c."email", c."member", c."ssoFailed", (SELECT "conflict" FROM conflict) AS "conflict",
      EXISTS (SELECT 1 FROM quota) AS "quotaOk", i."action", i."id", i."organizationId", i."role"::text AS "role",
      i."sso", i."status"::text AS "status", i."userId", i."invitedById", i."createdAt", i."updatedAt",
      i."expiresAt", i."acceptedAt", i."revokedAt", u."id" AS "uId", u."displayName" AS "uDisplayName",
      u."emailVerified" AS "uEmailVerified", u."jwtSubject" AS "uJwtSubject", u."createdAt" AS "uCreatedAt",
      u."updatedAt" AS "uUpdatedAt"
    FROM checked c LEFT JOIN invites i ON i."email" = c."email" LEFT JOIN users u ON u."email" = c."email"
    ORDER BY c."ord"`;
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
