import { randomUUID } from "node:crypto";
import type { InviteState, MemberRole, PrismaClient } from "../generated/prisma/client.js";
import type { Actor, AuditAction } from "./audit.js";
import { newSecretId } from "./ids.js";
import { MAILED_ACTIONS } from "./outbox.js";

/**
 * inviteUsers' one SQL statement (src/domain/invites.ts holds the rules around it: input, retries,
 * RATE_LIMITED, the result).
 */

/** One row per distinct email, in the order given; invite and user columns are null when none was written. */
export interface InviteRow {
  email: string;
  member: boolean;
  ssoFailed: boolean;
  conflict: boolean;
  quotaOk: boolean;
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

/**
 * The whole call as one statement, step by step as data-modifying CTEs:
 * - lock the PENDING invites of these emails (FOR UPDATE), in the order of the emails: a concurrent
 *   join, revoke or refresh of one of them waits for this statement. One index lookup per email, as a
 *   LATERAL subquery: with `"email" = ANY(...)` or a plain join, PostgreSQL planned (statistics not
 *   yet analyzed, as in a benchmark's growing organization) a scan of every PENDING invite of the
 *   organization, filtered by email (2–5 ms with 3,000 of them, growing with each invite). If one changed while we waited (it is in the statement's
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
export function inviteStatement(
  db: PrismaClient,
  organizationId: string,
  actor: Actor,
  invitees: Array<{ email: string; role: MemberRole }>,
  sso: boolean,
  settings: { ttlMs: number; dailyLimit: number },
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
      SELECT v."id" FROM input i CROSS JOIN LATERAL (
        SELECT "id" FROM "Invite" WHERE "organizationId" = ${organizationId} AND "status" = 'PENDING'
          AND "email" = i."email" OFFSET 0) v
    ),
    locked AS (
      SELECT v."id", v."email" FROM (SELECT "email" FROM input ORDER BY "email") i CROSS JOIN LATERAL (
        SELECT "id", "email" FROM "Invite" WHERE "organizationId" = ${organizationId} AND "status" = 'PENDING'
          AND "email" = i."email" FOR UPDATE) v
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
