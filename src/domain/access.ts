import DataLoader from "dataloader";
import { type MemberRole, type Organization, Prisma, type PrismaClient } from "../generated/prisma/client.js";
import { inviteStatusWhere } from "./invites.js";
import type { Viewer } from "./users.js";
import { LONE_SURROGATE, NUL } from "./validation.js";

/**
 * What the viewer of one request may see, answered in batches: every question asked in one tick
 * (e.g. for 50 organizations in a list or in `_entities`) is one SQL statement. graphql-shield rules
 * call these on every path to a type, root fields and `_entities` alike.
 */
/** A value the request already knows (answered at once, with no promise), or one to wait for. */
export type Known<T> = T | Promise<T>;

export function isPending<T>(value: Known<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** `then` for a Known value: synchronous when the value is. */
export function whenKnown<T, U>(value: Known<T>, next: (known: T) => Known<U>): Known<U> {
  return isPending(value) ? value.then(next) : next(value);
}

/**
 * Everything here answers synchronously once the request knows the answer (a role loaded by an
 * earlier rule, a user already looked up): the rules of src/graphql/permissions.ts then decide without a
 * promise, which is most of what authorization costs on a list of 50 nodes.
 */
export interface Access {
  /** The viewer's role in an organization; null when not a member. */
  roleIn(organizationId: string): Known<MemberRole | null>;
  /**
   * The organization's row (null if there is none), loaded in the same statement as the viewer's
   * role in it: a rule's role check and the load of the organization it guards are one round trip.
   * Says nothing about whether the viewer may see it: that is the rules' business.
   */
  organization(organizationId: string): Known<Organization | null>;
  /** A member, or invited (a PENDING invite): may see the organization's id, title and dates. */
  canSeeOrganization(organizationId: string): Known<boolean>;
  /**
   * All of a user (name, memberships): the viewer, people who share an organization with the viewer,
   * who invited people or made links for the viewer's admin organizations, and those who invited the
   * viewer. Not the people the viewer's admin organizations invited: an invite tells its sender the
   * address only (anyone may create an organization and invite any address), so until they share an
   * organization with the viewer those see canSeeUserEmail only.
   */
  canSeeUserProfile(userId: string): Known<boolean>;
  /** A user's email: whom canSeeUserProfile allows, and the viewer's admin organizations' invitees
   *  while the email is the address such an invite was sent to. */
  canSeeUserEmail(userId: string, email: string | null): Known<boolean>;
  /** Anything of a user beyond the id: canSeeUserProfile, or invited by the viewer's admin organizations. */
  canSeeUser(userId: string): Known<boolean>;
  /**
   * Forgets what the request knows about the viewer in an organization (its row and role): after a
   * mutation changed a membership there (a role change, a removal, leaving), the next rule in the
   * same request asks the database again.
   */
  forget(organizationId: string): void;
}

/** What the viewer may see of one user: all of it, or (invitees) the addresses they were invited at. */
type UserVisibility = { profile: true } | { profile: false; invitedAs: ReadonlySet<string> } | null;

const ADMIN: MemberRole = "ADMIN";

/**
 * A DataLoader whose answers, once settled (and when `keep` says so), are given back synchronously
 * for the rest of the request; the others wait on the loader (and its own cache) as before.
 */
function settling<K, V>(
  loader: DataLoader<K, V>,
  keep: (value: V) => boolean,
): ((key: K) => Known<V>) & { forget(key: K): void } {
  const settled = new Map<K, V>();
  const get = (key: K): Known<V> => {
    if (settled.has(key)) return settled.get(key) as V;
    return loader.load(key).then((value) => {
      if (keep(value)) settled.set(key, value);
      return value;
    });
  };
  return Object.assign(get, {
    forget(key: K) {
      settled.delete(key);
      loader.clear(key);
    },
  });
}

const always = () => true;

/** Every column of Organization, as `o."<column>"`: the loader's rows are whole Organization rows. */
const ORGANIZATION_COLUMNS = Prisma.raw(
  Object.values(Prisma.OrganizationScalarFieldEnum)
    .map((column) => `o."${column}"`)
    .join(", "),
);

/**
 * Text PostgreSQL cannot hold (NUL, a lone surrogate) fails here as it does in a plain parameter
 * (22021, which the handler answers with BAD_USER_INPUT): inside a text[] parameter PGlite turns a
 * lone surrogate into a malformed array literal instead (22P02), which would be a masked crash.
 */
function assertStorable(values: readonly string[]): void {
  if (values.some((value) => value.includes(NUL) || LONE_SURROGATE.test(value))) {
    throw Object.assign(new Error("Text that PostgreSQL cannot hold (NUL or malformed Unicode)"), { code: "22021" });
  }
}

export function createAccess(db: PrismaClient, viewerId: string | null, now: Date): Access {
  if (!viewerId) {
    return {
      roleIn: () => null,
      organization: (organizationId) => db.organization.findUnique({ where: { id: organizationId } }),
      canSeeOrganization: () => false,
      canSeeUserProfile: () => false,
      canSeeUserEmail: () => false,
      canSeeUser: () => false,
      forget: () => {},
    };
  }
  const options = { cache: true } as const;
  // One statement for every organization asked about in a tick: the rows, each with the viewer's
  // role from a plain LEFT JOIN on Member's key (a relationJoins include builds and aggregates JSON
  // per row, several times PostgreSQL's CPU), the ids as one array: one text for any number of ids.
  const organizationLoader = new DataLoader<string, { row: Organization; role: MemberRole | null } | null>(
    async (organizationIds) => {
      assertStorable(organizationIds);
      const rows = await db.$queryRaw<Array<Organization & { viewerRole: MemberRole | null }>>`
        SELECT ${ORGANIZATION_COLUMNS}, m."role"::text AS "viewerRole"
        FROM "Organization" o LEFT JOIN "Member" m ON m."organizationId" = o."id" AND m."userId" = ${viewerId}
        WHERE o."id" = ANY(${[...organizationIds]}::text[])`;
      const byId = new Map(rows.map(({ viewerRole, ...row }) => [row.id, { row, role: viewerRole }]));
      return organizationIds.map((id) => byId.get(id) ?? null);
    },
    options,
  );
  const organizations = settling(organizationLoader, (loaded) => loaded?.role != null);
  const invitedTo = settling(
    new DataLoader<string, boolean>(async (organizationIds) => {
      const rows = await db.invite.findMany({
        where: { userId: viewerId, organizationId: { in: [...organizationIds] }, ...inviteStatusWhere("PENDING", now) },
        select: { organizationId: true },
      });
      const found = new Set(rows.map((r) => r.organizationId));
      return organizationIds.map((id) => found.has(id));
    }, options),
    always,
  );
  const adminOrgs = { organization: { members: { some: { userId: viewerId, role: ADMIN } } } };
  // One statement for every user asked about in a tick: each row with at most one of each relation
  // that shows the whole user, and the addresses the viewer's admin organizations invited it at.
  const users = settling(
    new DataLoader<string, UserVisibility>(async (userIds) => {
      const rows = await db.user.findMany({
        where: { id: { in: [...userIds] } },
        select: {
          id: true,
          memberships: {
            where: { organization: { members: { some: { userId: viewerId } } } },
            select: { organizationId: true },
            take: 1,
          },
          sentInvites: { where: { OR: [{ userId: viewerId }, adminOrgs] }, select: { id: true }, take: 1 },
          createdLinks: { where: adminOrgs, select: { id: true }, take: 1 },
          invites: { where: adminOrgs, select: { email: true } },
        },
      });
      const byId = new Map(
        rows.map((row): [string, UserVisibility] => {
          if (row.memberships.length + row.sentInvites.length + row.createdLinks.length > 0) {
            return [row.id, { profile: true }];
          }
          const invitedAs = new Set(row.invites.map((invite) => invite.email));
          return [row.id, invitedAs.size > 0 ? { profile: false, invitedAs } : null];
        }),
      );
      return userIds.map((id) => byId.get(id) ?? null);
    }, options),
    always,
  );
  const viewerItself: UserVisibility = { profile: true };
  const userVisibility = (userId: string): Known<UserVisibility> =>
    userId === viewerId ? viewerItself : users(userId);

  const roleIn = (organizationId: string): Known<MemberRole | null> => {
    const loaded = organizations(organizationId);
    if (!isPending(loaded)) return loaded?.role ?? null;
    return loaded.then((answer) => {
      // "Not a member" is not kept: a join earlier in the same request may change it.
      if (answer?.role == null) organizationLoader.clear(organizationId);
      return answer?.role ?? null;
    });
  };
  return {
    roleIn,
    organization: (organizationId) => whenKnown(organizations(organizationId), (loaded) => loaded?.row ?? null),
    canSeeOrganization: (organizationId) =>
      whenKnown(roleIn(organizationId), (role) => role !== null || invitedTo(organizationId)),
    canSeeUserProfile: (userId) => whenKnown(userVisibility(userId), (visibility) => visibility?.profile === true),
    canSeeUserEmail: (userId, email) =>
      whenKnown(userVisibility(userId), (visibility) => {
        if (!visibility) return false;
        return visibility.profile || (email !== null && visibility.invitedAs.has(email));
      }),
    canSeeUser: (userId) => whenKnown(userVisibility(userId), (visibility) => visibility !== null),
    forget: (organizationId) => {
      organizations.forget(organizationId);
      invitedTo.forget(organizationId);
    },
  };
}

/**
 * Whether a standing subscriber may still receive an organization's events, from fresh rows (never
 * the request's memoized Access: a subscription is one request that lasts hours). UNAUTHENTICATED:
 * the request's API token was revoked, expired or deleted, or its JWT has expired; FORBIDDEN: the
 * viewer is no longer an ADMIN of the organization. null: still allowed.
 */
export async function subscriberRefusal(
  db: PrismaClient,
  viewer: Viewer | null,
  organizationId: string,
  now: Date,
): Promise<"UNAUTHENTICATED" | "FORBIDDEN" | null> {
  if (!viewer) return "UNAUTHENTICATED";
  if (viewer.expiresAt && viewer.expiresAt <= now) return "UNAUTHENTICATED";
  const [token, member] = await Promise.all([
    viewer.tokenId
      ? db.apiToken.findUnique({ where: { id: viewer.tokenId }, select: { revokedAt: true, expiresAt: true } })
      : null,
    db.member.findUnique({
      where: { organizationId_userId: { organizationId, userId: viewer.id } },
      select: { role: true },
    }),
  ]);
  if (viewer.tokenId && (!token || token.revokedAt || (token.expiresAt && token.expiresAt <= now))) {
    return "UNAUTHENTICATED";
  }
  return member?.role === ADMIN ? null : "FORBIDDEN";
}
