import type { Member, MemberRole, Prisma, PrismaClient } from "../generated/prisma/client.js";
import { type Actor, recordAuditEvents } from "./audit.js";
import { ForbiddenError, LastAdminError, NotFoundError } from "./errors.js";
import { roleSchema } from "./roles.js";
import { inTransaction, type Tx } from "./tx.js";
import { idSchema, normalizeEmail, parse } from "./validation.js";

/**
 * After the invite: an admin changes a member's role or removes them; a member leaves. The rule of
 * them all: an organization always keeps an ADMIN. Who may call what is the shield's business
 * (src/graphql/permissions.ts: admins; removing yourself = leaving, any member); these functions enforce the
 * organization's own rules, each in one transaction with its audit event.
 */

/** Who changed a membership: a signed-in user, or the operator (`npm run cli`), who is nobody. */
export const OPERATOR: Actor = { userId: null, tokenId: null, subject: null };

interface LockedMembers {
  /** The target's role; null when the user is not a member. */
  targetRole: MemberRole | null;
  /** ADMIN members, the target included when it is one. */
  admins: number;
  /** Whether the actor is one of them (the operator, who is nobody, is not). */
  actorIsAdmin: boolean;
}

/**
 * Locks (SELECT ... FOR UPDATE) the organization's ADMIN rows and the target's row, in one stable
 * order (by user id), and reads them. Under PostgreSQL's READ COMMITTED a concurrent change of one
 * of these rows makes this statement wait for it, and then re-read the changed row (a demoted admin
 * drops out of the set, a removed one is gone): so two admins demoting each other, or both leaving,
 * at the same moment are serialised, and the second sees one admin and gets LAST_ADMIN. A row made
 * ADMIN concurrently is not seen (nor locked): that can only under-count, never let the last admin
 * go. The same order everywhere: no deadlock between two such calls. (PGlite has one connection and
 * runs one transaction at a time.)
 */
async function lockAdminsAndTarget(
  tx: Tx,
  organizationId: string,
  userId: string,
  actor: Actor,
): Promise<LockedMembers> {
  const rows = await tx.$queryRaw<Array<{ userId: string; role: MemberRole }>>`
    SELECT "userId", "role"::text AS "role" FROM "Member"
    WHERE "organizationId" = ${organizationId} AND ("role" = 'ADMIN'::"MemberRole" OR "userId" = ${userId})
    ORDER BY "userId" FOR UPDATE`;
  const admins = rows.filter((row) => row.role === "ADMIN");
  return {
    targetRole: rows.find((row) => row.userId === userId)?.role ?? null,
    admins: admins.length,
    actorIsAdmin: actor.userId !== null && admins.some((row) => row.userId === actor.userId),
  };
}

/**
 * The shield checked the caller's role before the transaction; a concurrent change may have demoted
 * or removed it since (two admins demoting each other at once: each passed its rule). Under the
 * locks it must still be an ADMIN (the admin rows are locked, so this costs no statement), or the
 * operator. Removing yourself (leaving) needs only the membership, which NOT_FOUND answers.
 */
function assertActorStillAdmin(actor: Actor, locked: LockedMembers): void {
  if (actor.userId !== null && !locked.actorIsAdmin) {
    throw new ForbiddenError("Only admins of this organization may do this");
  }
}

const NOT_A_MEMBER = "This user is not a member of this organization";

/**
 * Sets a member's role (admins; a guest's role is GUEST). NOT_FOUND when the user is not a member;
 * LAST_ADMIN when it would demote the organization's only admin. The same role again changes
 * nothing and records nothing. Audit: `member.role_changed` with the previous and the new role.
 */
export async function updateMemberRole(
  db: PrismaClient,
  actor: Actor,
  args: { organizationId: string; userId: string; role: MemberRole },
): Promise<Member> {
  const organizationId = parse(idSchema, args.organizationId, ["organizationId"]);
  const userId = parse(idSchema, args.userId, ["userId"]);
  const role = parse(roleSchema, args.role, ["role"]);
  return inTransaction(db, async (tx) => {
    const locked = await lockAdminsAndTarget(tx, organizationId, userId, actor);
    assertActorStillAdmin(actor, locked);
    const { targetRole, admins } = locked;
    if (targetRole === null) throw new NotFoundError(NOT_A_MEMBER);
    const key = { organizationId_userId: { organizationId, userId } };
    if (targetRole === role) return tx.member.findUniqueOrThrow({ where: key });
    if (targetRole === "ADMIN" && admins <= 1) throw new LastAdminError();
    const member = await tx.member.update({ where: key, data: { role } });
    await recordAuditEvents(tx, organizationId, actor, [
      { action: "member.role_changed", targetId: userId, details: { previousRole: targetRole, role } },
    ]);
    return member;
  });
}

/**
 * Removes a member (admins). Removing yourself is leaving (`member.left`, see leaveOrganization).
 * NOT_FOUND when the user is not a member; LAST_ADMIN when it is the organization's only admin. The
 * member's grants on spaces and collections of this organization go with the membership; nothing
 * else of theirs (tokens, invites sent, links made) changes. Their access ends with the commit:
 * every request reads the viewer's role afresh (src/domain/access.ts).
 */
export async function removeMember(
  db: PrismaClient,
  actor: Actor,
  args: { organizationId: string; userId: string },
): Promise<{ userId: string }> {
  const organizationId = parse(idSchema, args.organizationId, ["organizationId"]);
  const userId = parse(idSchema, args.userId, ["userId"]);
  const action = userId === actor.userId ? "member.left" : "member.removed";
  await inTransaction(db, async (tx) => {
    const locked = await lockAdminsAndTarget(tx, organizationId, userId, actor);
    if (action === "member.removed") assertActorStillAdmin(actor, locked);
    const { targetRole, admins } = locked;
    if (targetRole === null) throw new NotFoundError(NOT_A_MEMBER);
    if (targetRole === "ADMIN" && admins <= 1) throw new LastAdminError();
    await tx.memberGrant.deleteMany({ where: { organizationId, userId } });
    await tx.member.delete({ where: { organizationId_userId: { organizationId, userId } } });
    await recordAuditEvents(tx, organizationId, actor, [{ action, targetId: userId }]);
  });
  return { userId };
}

/** The viewer leaves an organization (any member): removeMember of themself. */
export async function leaveOrganization(
  db: PrismaClient,
  actor: Actor & { userId: string },
  args: { organizationId: string },
): Promise<{ organizationId: string }> {
  await removeMember(db, actor, { organizationId: args.organizationId, userId: actor.userId });
  return { organizationId: args.organizationId };
}

export type MemberOrder = "JOINED_AT_DESC" | "JOINED_AT_ASC" | "NAME_ASC" | "NAME_DESC";

/**
 * The members a list keeps: of `role` when given; with `search`, those whose name or email contains
 * it in any case (ILIKE '%…%', an index scan on the trigram GIN indexes of User.email and
 * User.displayName; see the migration member_search). The search is trimmed; empty keeps everyone;
 * `%`, `_` and `\` in it match themselves.
 */
export function memberListWhere(filter: { role?: MemberRole | null; search?: string | null }): Prisma.MemberWhereInput {
  // ILIKE's wildcards and its escape character are plain characters in a search.
  const search = filter.search?.trim().replace(/[\\%_]/g, "\\$&");
  return {
    ...(filter.role ? { role: filter.role } : {}),
    ...(search
      ? {
          user: {
            OR: [
              { email: { contains: search, mode: "insensitive" } },
              { displayName: { contains: search, mode: "insensitive" } },
            ],
          },
        }
      : {}),
  };
}

/**
 * The order of a member list; the user id breaks ties (a stable order for cursors). By name: the
 * database's collation of displayName (members without a name last), not an index order.
 */
export function memberListOrder(order: MemberOrder): Prisma.MemberOrderByWithRelationInput[] {
  switch (order) {
    case "JOINED_AT_ASC":
      return [{ joinedAt: "asc" }, { userId: "asc" }];
    case "NAME_ASC":
      return [{ user: { displayName: { sort: "asc", nulls: "last" } } }, { userId: "asc" }];
    case "NAME_DESC":
      return [{ user: { displayName: { sort: "desc", nulls: "last" } } }, { userId: "desc" }];
    default:
      return [{ joinedAt: "desc" }, { userId: "desc" }];
  }
}

/**
 * The operator's forms (`npm run cli -- member set-role|remove`): the member named by email. For the
 * day an organization has lost its admins some other way, the operator may make anyone ADMIN; the
 * last-admin rule holds for the operator too. Recorded with no actor.
 */
export async function setMemberRoleByEmail(
  db: PrismaClient,
  args: { organizationId: string; email: string; role: string },
): Promise<Member> {
  const role = parse(roleSchema, args.role.trim().toUpperCase(), ["role"]);
  const userId = await userIdByEmail(db, args.email);
  return updateMemberRole(db, OPERATOR, { organizationId: args.organizationId, userId, role });
}

export async function removeMemberByEmail(
  db: PrismaClient,
  args: { organizationId: string; email: string },
): Promise<{ userId: string }> {
  const userId = await userIdByEmail(db, args.email);
  return removeMember(db, OPERATOR, { organizationId: args.organizationId, userId });
}

async function userIdByEmail(db: PrismaClient, rawEmail: string): Promise<string> {
  const email = normalizeEmail(rawEmail);
  const user = await db.user.findUnique({ where: { email }, select: { id: true } });
  if (!user) throw new NotFoundError(`No user with the email ${email}`);
  return user.id;
}
