/**
 * The authorization matrix: ONE table (ROWS x CALLERS) states who may call what, and every cell is
 * a test. Rows are every Query and Mutation field plus the guarded nested fields; columns are the
 * callers. "ok" cells really succeed (fresh invites, links and organizations per call); denied cells
 * must be a top-level error with the exact extensions.code, a path ending in the guarded field, and
 * null where GraphQL's null bubbling puts it (computed from the schema, not guessed).
 */
import { randomUUID } from "node:crypto";
import {
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLUnionType,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
} from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { inviteUsers } from "../../src/domain/invites.js";
import { createLinkInvite } from "../../src/domain/link-invites.js";
import { createToken, revokeToken } from "../../src/domain/users.js";
import type { MemberRole } from "../../src/generated/prisma/client.js";
import { schema } from "../../src/graphql/schema/index.js";
import { type GqlResponse, type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

// --- callers ---------------------------------------------------------------------------------

const MEMBER_ROLES = ["GUEST", "READ", "COMMENT", "REVIEW", "EDIT", "CREATE"] as const satisfies readonly MemberRole[];
const CALLERS = ["anonymous", "nonMember", ...MEMBER_ROLES, "ADMIN"] as const;
type Caller = (typeof CALLERS)[number];
type SignedIn = Exclude<Caller, "anonymous">;
/** ABSENT: `_entities` answers the entity as one that does not exist (null, no error). */
type Outcome = "ok" | "UNAUTHENTICATED" | "FORBIDDEN" | "ABSENT";
type Expectation = Record<Caller, Outcome>;
type Path = Array<string | number>;

/** Builds a row's expectations: `base` for everyone, then overrides. */
function expectation(base: Outcome, overrides: Partial<Expectation> = {}): Expectation {
  return { ...(Object.fromEntries(CALLERS.map((c) => [c, base])) as Expectation), ...overrides };
}
const EVERYONE = expectation("ok");
const SIGNED_IN = expectation("ok", { anonymous: "UNAUTHENTICATED" });
const MEMBERS = expectation("ok", { anonymous: "UNAUTHENTICATED", nonMember: "FORBIDDEN" });
const ADMINS = expectation("FORBIDDEN", { anonymous: "UNAUTHENTICATED", ADMIN: "ok" });
const NOBODY_SIGNED_IN = expectation("FORBIDDEN", { anonymous: "UNAUTHENTICATED" });
/** `_entities`: whom the entity is hidden from get it as an unknown one (anonymous callers included). */
const ENTITY_FOR = (who: Caller[]) => expectation("ABSENT", Object.fromEntries(who.map((c) => [c, "ok"])));
const NOBODY = expectation("ABSENT");

const isMember = (c: Caller) => c !== "anonymous" && c !== "nonMember";

// --- the world the matrix runs in -------------------------------------------------------------

interface World {
  app: TestApp;
  /** The organization under test: ADMIN owns it, each MEMBER_ROLES caller has that role. */
  org: { id: string };
  users: Record<SignedIn, TestUser>;
  /** Owns the side organizations (joins, pending invites). */
  sideOwner: TestUser;
  /** An ACTIVE link of `org`, for linkInvitePreview and Organization.linkInvite. */
  link: { id: string };
  /** The role each caller has in `org` (null: not a member). */
  roleOf(caller: Caller): MemberRole | null;
  /** A new PENDING email invite into `orgId` (sent by `by`), returning its id. */
  invite(orgId: string, by: TestUser, email: string): Promise<string>;
  /** A new ACTIVE ORGANIZATION link of `org` (created by ADMIN). */
  newLink(): Promise<{ id: string }>;
  /**
   * A fresh organization owned by sideOwner (an ADMIN), where `caller` (when a member) has their
   * role, with a new READ member `target`. `self`: the caller's user, when signed in.
   */
  memberWorld(caller: Caller): Promise<{ orgId: string; target: TestUser; self: TestUser | null }>;
  /** A user's role in an organization, from the database (null: not a member). */
  roleIn(orgId: string, userId: string): Promise<MemberRole | null>;
}

interface Call {
  query: string;
  variables?: Record<string, unknown>;
  /** Where a denial must be reported; numbers in real paths match "*". */
  deniedAt: Path;
  /** The member of a union (`_entities`) the selection goes into. */
  unionMember?: string;
  /** The whole data of an ABSENT answer. */
  absent?: unknown;
  /** Checks a denied call changed nothing. */
  unchanged?: () => Promise<void>;
}

interface Row {
  name: string;
  expect: Expectation;
  call(caller: Caller, w: World): Promise<Call>;
  /** Checks an "ok" answer (no errors were returned). */
  ok(data: GqlResponse["data"], caller: Caller, w: World): void | Promise<void>;
  /** Extra checks on a denied answer. */
  denied?(res: GqlResponse, caller: Caller, w: World): void;
}

/**
 * Nested fields of Organization need a route to an Organization. Members: `organization(id)`. A
 * non-member reaches the organization they are invited to through their own pending invite
 * (Invite.organization), so the nested rule itself must deny them. Anonymous callers have no route
 * to any Organization: `organization(id)` is where they are stopped.
 */
function orgRoute(caller: Caller, field: string, selection: string, variables = ""): { query: string; deniedAt: Path } {
  if (caller === "nonMember") {
    return {
      query: `query${variables ? `(${variables})` : ""} { viewer { pendingInvites { organization { id ${selection} } } } }`,
      deniedAt: ["viewer", "pendingInvites", "*", "organization", field],
    };
  }
  return {
    query: `query($org: ID!${variables ? `, ${variables}` : ""}) { organization(id: $org) { id ${selection} } }`,
    deniedAt: caller === "anonymous" ? ["organization"] : ["organization", field],
  };
}

/** `_entities` for one representation, selecting `field` (one guarded field: one denial). */
function entities(typename: string, id: string, field: string): Call {
  return {
    query: `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on ${typename} { id ${field} } } }`,
    variables: { reps: [{ __typename: typename, id }] },
    unionMember: typename,
    deniedAt: ["_entities", "*", field.split(" ")[0] as string],
    absent: { _entities: [null] },
  };
}

const ROWS: Row[] = [
  // --- Query ---
  {
    name: "Query.viewer",
    expect: EVERYONE,
    call: async () => ({ query: "{ viewer { id } }", deniedAt: ["viewer"] }),
    ok: (data, caller, w) => {
      expect(data).toEqual({ viewer: caller === "anonymous" ? null : { id: w.users[caller].id } });
    },
  },
  {
    name: "Query.organization",
    expect: MEMBERS,
    call: async (_c, w) => ({
      query: "query($id: ID!) { organization(id: $id) { id viewerRole } }",
      variables: { id: w.org.id },
      deniedAt: ["organization"],
    }),
    ok: (data, caller, w) => {
      expect(data).toEqual({ organization: { id: w.org.id, viewerRole: w.roleOf(caller) } });
    },
  },
  {
    // A non-member gets FORBIDDEN whether or not the organization exists: admins of other
    // organizations included, nobody is a member of an unknown one.
    name: "Query.organization (unknown id)",
    expect: NOBODY_SIGNED_IN,
    call: async () => ({
      query: "query($id: ID!) { organization(id: $id) { id } }",
      variables: { id: randomUUID() },
      deniedAt: ["organization"],
    }),
    ok: () => {
      throw new Error("nobody may read an unknown organization");
    },
  },
  {
    name: "Query.linkInvitePreview",
    expect: EVERYONE,
    call: async (_c, w) => ({
      query: `query($org: ID!, $link: ID!) {
        linkInvitePreview(organizationId: $org, inviteId: $link) { organizationId organizationTitle role status alreadyMember }
      }`,
      variables: { org: w.org.id, link: w.link.id },
      deniedAt: ["linkInvitePreview"],
    }),
    ok: (data, caller, w) => {
      expect(data).toEqual({
        linkInvitePreview: {
          organizationId: w.org.id,
          organizationTitle: "Matrix",
          role: "READ",
          status: "ACTIVE",
          alreadyMember: isMember(caller),
        },
      });
    },
  },

  // --- Mutation ---
  {
    name: "Mutation.createOrganization",
    expect: SIGNED_IN,
    call: async () => ({
      query: `mutation($title: String!) { createOrganization(input: { title: $title }) {
        __typename ... on CreateOrganizationSuccess { organization { id title viewerRole } } } }`,
      variables: { title: `Created ${randomUUID()}` },
      deniedAt: ["createOrganization"],
    }),
    ok: (data) => {
      expect(data?.createOrganization).toMatchObject({
        __typename: "CreateOrganizationSuccess",
        organization: { viewerRole: "ADMIN" },
      });
    },
  },
  {
    // A fresh organization and a fresh email invite for the caller's own email per call.
    name: "Mutation.joinOrganizationWithInvite",
    expect: SIGNED_IN,
    call: async (caller, w) => {
      const side = await w.app.seed.org(w.sideOwner, "Side");
      const email = caller === "anonymous" ? uniqueEmail("anon-invitee") : w.users[caller].email;
      const inviteId = await w.invite(side.id, w.sideOwner, email);
      return {
        query: `mutation($org: ID!, $invite: ID!) { joinOrganizationWithInvite(organizationId: $org, inviteId: $invite) {
          __typename ... on JoinOrganizationWithInviteSuccess { member { role organization { id } user { id } } } } }`,
        variables: { org: side.id, invite: inviteId },
        deniedAt: ["joinOrganizationWithInvite"],
        unchanged: async () => {
          const invite = await w.app.db.invite.findUniqueOrThrow({ where: { id: inviteId } });
          expect(invite.status).toBe("PENDING");
          expect(await w.app.db.member.count({ where: { organizationId: side.id } })).toBe(1);
        },
      };
    },
    ok: (data, caller, w) => {
      const result = data?.joinOrganizationWithInvite;
      expect(result).toMatchObject({ __typename: "JoinOrganizationWithInviteSuccess", member: { role: "READ" } });
      expect(result.member.user.id).toBe(w.users[caller as SignedIn].id);
    },
  },
  {
    name: "Mutation.inviteUsersToOrganization",
    expect: ADMINS,
    call: async (_c, w) => {
      const email = uniqueEmail("invitee");
      return {
        query: `mutation($org: ID!, $email: String!) {
          inviteUsersToOrganization(organizationId: $org, input: { emails: [$email] }) {
            __typename ... on InviteUsersToOrganizationSuccess { invited invites { email status } } } }`,
        variables: { org: w.org.id, email },
        deniedAt: ["inviteUsersToOrganization"],
        unchanged: async () => {
          expect(await w.app.db.invite.count({ where: { email } })).toBe(0);
          expect(await w.app.db.user.count({ where: { email } })).toBe(0);
        },
      };
    },
    ok: (data) => {
      expect(data?.inviteUsersToOrganization).toMatchObject({
        __typename: "InviteUsersToOrganizationSuccess",
        invited: 1,
        invites: [{ status: "PENDING" }],
      });
    },
  },
  {
    name: "Mutation.revokeInvite",
    expect: ADMINS,
    call: async (_c, w) => {
      const inviteId = await w.invite(w.org.id, w.users.ADMIN, uniqueEmail("to-revoke"));
      return {
        query: `mutation($org: ID!, $invite: ID!) { revokeInvite(organizationId: $org, inviteId: $invite) {
          __typename ... on RevokeInviteSuccess { invite { id status } } } }`,
        variables: { org: w.org.id, invite: inviteId },
        deniedAt: ["revokeInvite"],
        unchanged: async () => {
          const invite = await w.app.db.invite.findUniqueOrThrow({ where: { id: inviteId } });
          expect(invite.status).toBe("PENDING");
        },
      };
    },
    ok: (data) => {
      expect(data?.revokeInvite).toMatchObject({ __typename: "RevokeInviteSuccess", invite: { status: "REVOKED" } });
    },
  },
  {
    name: "Mutation.createLinkInvite",
    expect: ADMINS,
    call: async (_c, w) => {
      const before = await w.app.db.linkInvite.count({ where: { organizationId: w.org.id } });
      return {
        query: `mutation($org: ID!) { createLinkInvite(organizationId: $org, input: { role: COMMENT }) {
          __typename ... on CreateLinkInviteSuccess { linkInvite { id role status organization { id } } } } }`,
        variables: { org: w.org.id },
        deniedAt: ["createLinkInvite"],
        unchanged: async () => {
          expect(await w.app.db.linkInvite.count({ where: { organizationId: w.org.id } })).toBe(before);
        },
      };
    },
    ok: (data, _c, w) => {
      expect(data?.createLinkInvite).toMatchObject({
        __typename: "CreateLinkInviteSuccess",
        linkInvite: { role: "COMMENT", status: "ACTIVE", organization: { id: w.org.id } },
      });
    },
  },
  {
    name: "Mutation.updateLinkInvite",
    expect: ADMINS,
    call: async (_c, w) => {
      const link = await w.newLink();
      return {
        query: `mutation($org: ID!, $link: ID!) { updateLinkInvite(organizationId: $org, inviteId: $link, input: { maxUses: 7 }) {
          __typename ... on UpdateLinkInviteSuccess { linkInvite { id maxUses } } } }`,
        variables: { org: w.org.id, link: link.id },
        deniedAt: ["updateLinkInvite"],
        unchanged: async () => {
          const row = await w.app.db.linkInvite.findUniqueOrThrow({ where: { id: link.id } });
          expect(row.maxUses).toBeNull();
        },
      };
    },
    ok: (data) => {
      expect(data?.updateLinkInvite).toMatchObject({
        __typename: "UpdateLinkInviteSuccess",
        linkInvite: { maxUses: 7 },
      });
    },
  },
  {
    name: "Mutation.revokeLinkInvite",
    expect: ADMINS,
    call: async (_c, w) => {
      const link = await w.newLink();
      return {
        query: `mutation($org: ID!, $link: ID!) { revokeLinkInvite(organizationId: $org, inviteId: $link) {
          __typename ... on RevokeLinkInviteSuccess { existed linkInvite { id status } } } }`,
        variables: { org: w.org.id, link: link.id },
        deniedAt: ["revokeLinkInvite"],
        unchanged: async () => {
          const row = await w.app.db.linkInvite.findUniqueOrThrow({ where: { id: link.id } });
          expect(row.revokedAt).toBeNull();
        },
      };
    },
    ok: (data) => {
      expect(data?.revokeLinkInvite).toMatchObject({
        __typename: "RevokeLinkInviteSuccess",
        existed: true,
        linkInvite: { status: "REVOKED" },
      });
    },
  },
  {
    name: "Mutation.updateOrganizationDomains",
    expect: ADMINS,
    call: async (_c, w) => {
      const domain = `d${randomUUID().slice(0, 8)}.example.org`;
      return {
        query: `mutation($org: ID!, $domains: [String!]!) { updateOrganizationDomains(organizationId: $org, domains: $domains) {
          __typename ... on UpdateOrganizationDomainsSuccess { organization { id allowedDomains } } } }`,
        variables: { org: w.org.id, domains: [domain] },
        deniedAt: ["updateOrganizationDomains"],
        unchanged: async () => {
          const row = await w.app.db.organization.findUniqueOrThrow({ where: { id: w.org.id } });
          expect(row.allowedDomains).not.toContain(domain);
        },
      };
    },
    ok: (data, _c, w) => {
      expect(data?.updateOrganizationDomains).toMatchObject({
        __typename: "UpdateOrganizationDomainsSuccess",
        organization: { id: w.org.id },
      });
      expect(data?.updateOrganizationDomains.organization.allowedDomains).toHaveLength(1);
    },
  },
  {
    name: "Mutation.joinOrganizationByDomain",
    // Any signed-in user may ask; the answer is a result (members: ALREADY_MEMBER; the non-member's
    // example.com is not an allowed domain of the matrix organization: DOMAIN_NOT_ALLOWED).
    expect: SIGNED_IN,
    call: async (_c, w) => ({
      query: `mutation($org: ID!) { joinOrganizationByDomain(organizationId: $org) { __typename ... on Error { code } } }`,
      variables: { org: w.org.id },
      deniedAt: ["joinOrganizationByDomain"],
    }),
    ok: (data, caller) => {
      expect(data?.joinOrganizationByDomain.code).toBe(isMember(caller) ? "ALREADY_MEMBER" : "DOMAIN_NOT_ALLOWED");
    },
  },

  // --- members: each call in a fresh organization (owned by sideOwner, an ADMIN besides the caller),
  // where the caller has their role, so that the matrix organization's members stay as they are ---
  {
    name: "Mutation.updateMemberRole",
    expect: ADMINS,
    call: async (caller, w) => {
      const { orgId, target } = await w.memberWorld(caller);
      return {
        query: `mutation($org: ID!, $user: ID!) { updateMemberRole(organizationId: $org, userId: $user, role: EDIT) {
          __typename ... on UpdateMemberRoleSuccess { member { role user { id } } } } }`,
        variables: { org: orgId, user: target.id },
        deniedAt: ["updateMemberRole"],
        unchanged: async () => expect(await w.roleIn(orgId, target.id)).toBe("READ"),
      };
    },
    ok: (data) => {
      expect(data?.updateMemberRole).toMatchObject({ __typename: "UpdateMemberRoleSuccess", member: { role: "EDIT" } });
    },
  },
  {
    name: "Mutation.removeMember",
    expect: ADMINS,
    call: async (caller, w) => {
      const { orgId, target } = await w.memberWorld(caller);
      return {
        query: `mutation($org: ID!, $user: ID!) { removeMember(organizationId: $org, userId: $user) {
          __typename ... on RemoveMemberSuccess { userId } } }`,
        variables: { org: orgId, user: target.id },
        deniedAt: ["removeMember"],
        unchanged: async () => expect(await w.roleIn(orgId, target.id)).toBe("READ"),
      };
    },
    ok: (data) => {
      expect(data?.removeMember.__typename).toBe("RemoveMemberSuccess");
    },
  },
  {
    // Removing yourself is leaving: any member (the ADMIN too: the owner stays an admin).
    name: "Mutation.removeMember (self)",
    expect: MEMBERS,
    call: async (caller, w) => {
      const { orgId, self } = await w.memberWorld(caller);
      return {
        query: `mutation($org: ID!, $user: ID!) { removeMember(organizationId: $org, userId: $user) {
          __typename ... on RemoveMemberSuccess { userId } ... on Error { code } } }`,
        // Anonymous has no self: any user id.
        variables: { org: orgId, user: self?.id ?? w.users.READ.id },
        deniedAt: ["removeMember"],
        unchanged: async () => {
          if (self) expect(await w.roleIn(orgId, self.id)).toBe(w.roleOf(caller));
        },
      };
    },
    ok: async (data, caller, w) => {
      expect(data?.removeMember).toEqual({ __typename: "RemoveMemberSuccess", userId: w.users[caller as SignedIn].id });
    },
  },
  {
    name: "Mutation.leaveOrganization",
    expect: MEMBERS,
    call: async (caller, w) => {
      const { orgId, self } = await w.memberWorld(caller);
      return {
        query: `mutation($org: ID!) { leaveOrganization(organizationId: $org) {
          __typename ... on LeaveOrganizationSuccess { organizationId } } }`,
        variables: { org: orgId },
        deniedAt: ["leaveOrganization"],
        unchanged: async () => {
          if (self) expect(await w.roleIn(orgId, self.id)).toBe(w.roleOf(caller));
        },
      };
    },
    ok: (data) => {
      expect(data?.leaveOrganization.__typename).toBe("LeaveOrganizationSuccess");
    },
  },

  // --- federation: `_service` for gateways, `_entities` under the same type rules ---
  {
    name: "Query._service",
    expect: EVERYONE,
    call: async () => ({ query: "{ _service { sdl } }", deniedAt: ["_service"] }),
    ok: (data) => {
      expect(data?._service.sdl).toContain('type Organization\n  @key(fields: "id")');
    },
  },
  // An entity the caller may not see is answered as one that does not exist (ABSENT: null, no
  // error; test/graphql/entities.test.ts compares it with an unknown id); the fields of one the caller may
  // see are guarded by the type's rules as everywhere else.
  {
    // The non-member is invited to the matrix organization: they may see its title.
    name: "Query._entities Organization",
    expect: expectation("ok", { anonymous: "ABSENT" }),
    call: async (_c, w) => entities("Organization", w.org.id, "title"),
    ok: (data) => {
      expect(data?._entities).toEqual([{ id: expect.any(String), title: "Matrix" }]);
    },
  },
  {
    name: "Query._entities Organization (neither member nor invited)",
    expect: NOBODY,
    call: async (_c, w) => entities("Organization", (await w.app.seed.org(w.sideOwner, "Stranger")).id, "title"),
    ok: () => {
      throw new Error("nobody may read a stranger organization through _entities");
    },
  },
  {
    name: "Query._entities Organization.invites",
    expect: { ...ADMINS, anonymous: "ABSENT" },
    call: async (_c, w) => entities("Organization", w.org.id, "invites { totalCount }"),
    ok: (data) => {
      expect(data?._entities[0].invites.totalCount).toBeGreaterThan(0);
    },
  },
  {
    name: "Query._entities Invite",
    expect: ENTITY_FOR(["ADMIN"]),
    call: async (_c, w) => entities("Invite", await w.invite(w.org.id, w.users.ADMIN, uniqueEmail("entity")), "email"),
    ok: (data) => {
      expect(data?._entities[0].email).toMatch(/^entity-/);
    },
  },
  {
    name: "Query._entities LinkInvite",
    expect: ENTITY_FOR(["ADMIN"]),
    call: async (_c, w) => entities("LinkInvite", w.link.id, "url"),
    ok: (data, _c, w) => {
      expect(data?._entities[0].url).toContain(w.link.id);
    },
  },
  {
    // Co-members, the user themself, and whom they invited (the non-member) may see a user.
    name: "Query._entities User",
    expect: { ...SIGNED_IN, anonymous: "ABSENT" },
    call: async (_c, w) => entities("User", w.users.ADMIN.id, "email"),
    ok: (data, _c, w) => {
      expect(data?._entities[0].email).toBe(w.users.ADMIN.email);
    },
  },
  {
    name: "Query._entities User (a stranger)",
    expect: NOBODY,
    call: async (_c, w) => entities("User", (await w.app.seed.user("stranger")).id, "email"),
    ok: () => {
      throw new Error("nobody may read a stranger through _entities");
    },
  },

  // --- guarded nested fields ---
  {
    name: "Organization.members",
    expect: MEMBERS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "members", "members { totalCount edges { node { role user { id } } } }"),
      variables: { org: w.org.id },
    }),
    ok: (data, caller, w) => {
      const members = data?.organization?.members;
      expect(members.totalCount).toBe(CALLERS.filter(isMember).length);
      expect(members.edges).toContainEqual({
        node: { role: w.roleOf(caller), user: { id: w.users[caller as SignedIn].id } },
      });
    },
  },
  {
    name: "Organization.member",
    expect: MEMBERS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "member", "member(userId: $user) { role user { id } }", "$user: ID!"),
      variables: { org: w.org.id, user: w.users.ADMIN.id },
    }),
    ok: (data, _c, w) => {
      expect(data?.organization?.member).toEqual({ role: "ADMIN", user: { id: w.users.ADMIN.id } });
    },
  },
  {
    name: "Organization.member (self)",
    expect: MEMBERS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "member", "member(userId: $user) { role user { id } }", "$user: ID!"),
      variables: { org: w.org.id, user: caller === "anonymous" ? w.users.READ.id : w.users[caller].id },
    }),
    ok: (data, caller, w) => {
      expect(data?.organization?.member).toEqual({
        role: w.roleOf(caller),
        user: { id: w.users[caller as SignedIn].id },
      });
    },
  },
  {
    name: "Organization.invites",
    expect: ADMINS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "invites", "invites { totalCount edges { node { email status } } }"),
      variables: { org: w.org.id },
    }),
    ok: (data, _c, w) => {
      expect(data?.organization?.invites.edges).toContainEqual({
        node: { email: w.users.nonMember.email, status: "PENDING" },
      });
    },
  },
  {
    name: "Organization.linkInvites",
    expect: ADMINS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "linkInvites", "linkInvites { totalCount edges { node { id } } }"),
      variables: { org: w.org.id },
    }),
    ok: (data, _c, w) => {
      expect(data?.organization?.linkInvites.edges).toContainEqual({ node: { id: w.link.id } });
    },
  },
  {
    name: "Organization.auditLog",
    expect: ADMINS,
    call: async (caller, w) => ({
      ...orgRoute(
        caller,
        "auditLog",
        "auditLog(first: 1000) { totalCount edges { node { action targetId actor { id } } } }",
      ),
      variables: { org: w.org.id },
    }),
    ok: (data, _c, w) => {
      // The world's link was created by ADMIN (an event of the matrix organization).
      expect(data?.organization?.auditLog.edges).toContainEqual({
        node: { action: "link.created", targetId: w.link.id, actor: { id: w.users.ADMIN.id } },
      });
    },
  },
  {
    name: "Organization.allowedDomains",
    expect: ADMINS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "allowedDomains", "allowedDomains"),
      variables: { org: w.org.id },
    }),
    ok: (data) => {
      expect(Array.isArray(data?.organization?.allowedDomains)).toBe(true);
    },
  },
  {
    name: "Organization.linkInvite",
    expect: ADMINS,
    call: async (caller, w) => ({
      ...orgRoute(caller, "linkInvite", "linkInvite(id: $link) { id role }", "$link: ID!"),
      variables: { org: w.org.id, link: w.link.id },
    }),
    ok: (data, _c, w) => {
      expect(data?.organization?.linkInvite).toEqual({ id: w.link.id, role: "READ" });
    },
  },
  {
    // Everyone signed in has a pending invite to a side organization; anonymous has no self.
    name: "User.pendingInvites (self)",
    expect: EVERYONE,
    call: async () => ({
      query: "{ viewer { id pendingInvites { email status } } }",
      deniedAt: ["viewer", "pendingInvites"],
    }),
    ok: (data, caller, w) => {
      if (caller === "anonymous") {
        expect(data).toEqual({ viewer: null });
        return;
      }
      const invites = data?.viewer?.pendingInvites;
      expect(invites.length).toBeGreaterThan(0);
      for (const invite of invites) expect(invite).toEqual({ email: w.users[caller].email, status: "PENDING" });
    },
  },
  {
    // Members reach other users through organization.members (the caller's own entry must stay
    // readable in the same answer); the non-member through their invite's invitedBy.
    name: "User.pendingInvites (other user)",
    expect: NOBODY_SIGNED_IN,
    call: async (caller, w) => {
      if (caller === "nonMember") {
        return {
          query: "{ viewer { pendingInvites { invitedBy { id pendingInvites { id } } } } }",
          deniedAt: ["viewer", "pendingInvites", "*", "invitedBy", "pendingInvites"],
        };
      }
      return {
        query: `query($org: ID!) { organization(id: $org) { members { edges { node { user { id pendingInvites { email } } } } } } }`,
        variables: { org: w.org.id },
        deniedAt:
          caller === "anonymous"
            ? ["organization"]
            : ["organization", "members", "edges", "*", "node", "user", "pendingInvites"],
      };
    },
    ok: () => {
      throw new Error("nobody may read another user's pending invites");
    },
    denied: (res, caller, w) => {
      if (!isMember(caller)) return;
      // One denial per other member; the caller's own entry is readable.
      const edges = res.data?.organization?.members.edges as Array<{
        node: { user: { id: string; pendingInvites: unknown } };
      }>;
      expect(edges).toHaveLength(CALLERS.filter(isMember).length);
      expect(res.errors).toHaveLength(edges.length - 1);
      const self = edges.find((e) => e.node.user.id === w.users[caller as SignedIn].id);
      expect(self?.node.user.pendingInvites).toEqual([{ email: w.users[caller as SignedIn].email }]);
      for (const edge of edges) if (edge !== self) expect(edge.node.user.pendingInvites).toBeNull();
    },
  },
];

// --- checking denials -------------------------------------------------------------------------

/** Where null lands for an error at `path`: the deepest nullable position (null bubbling). */
function nullPosition(operation: "query" | "mutation", path: Path, unionMember?: string): number {
  let parent = (operation === "query" ? schema.getQueryType() : schema.getMutationType()) as GraphQLObjectType;
  let current: GraphQLOutputType | undefined;
  let deepestNullable = -1;
  path.forEach((segment, i) => {
    if (typeof segment === "string") {
      // Under a union (`_entities`), the member type that has this field.
      const owner = isUnionType(parent)
        ? ((parent as GraphQLUnionType).getTypes().find((t) => t.name === unionMember) ?? parent)
        : parent;
      const field = (owner as GraphQLObjectType).getFields()[segment];
      if (!field) throw new Error(`no field ${parent.name}.${segment}`);
      current = field.type;
    } else {
      const list = getNullableType(current);
      if (!isListType(list)) throw new Error(`index ${segment} on a non-list at ${path.slice(0, i).join(".")}`);
      current = list.ofType as GraphQLOutputType;
    }
    if (!isNonNullType(current)) deepestNullable = i;
    const named = getNamedType(current);
    if (isObjectType(named) || isInterfaceType(named) || isUnionType(named)) parent = named as GraphQLObjectType;
  });
  return deepestNullable;
}

function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const segment of path) value = (value as Record<string | number, unknown> | null | undefined)?.[segment];
  return value;
}

const pattern = (path: Path | undefined) => (path ?? []).map((s) => (typeof s === "number" ? "*" : s));
const show = (res: GqlResponse) => JSON.stringify({ status: res.status, data: res.data, errors: res.errors }, null, 1);

function expectDenied(
  res: GqlResponse,
  code: "UNAUTHENTICATED" | "FORBIDDEN",
  deniedAt: Path,
  query: string,
  unionMember?: string,
) {
  expect(res.errors?.length ?? 0, show(res)).toBeGreaterThan(0);
  const operation = query.trimStart().startsWith("mutation") ? "mutation" : "query";
  for (const error of res.errors ?? []) {
    expect({ code: error.extensions?.code, path: pattern(error.path) }, show(res)).toEqual({ code, path: deniedAt });
    expect(error.message).not.toMatch(/^(Unexpected error\.|Not Authorised!)$/);
    const path = error.path as Path;
    const at = nullPosition(operation, path, unionMember);
    if (at < 0) {
      expect(res.data, `non-null bubbles to data: ${show(res)}`).toBeNull();
    } else {
      const container = valueAt(res.data, path.slice(0, at));
      expect(container, `the parent of ${path.slice(0, at + 1).join(".")} is present: ${show(res)}`).toBeTypeOf(
        "object",
      );
      expect(container, show(res)).not.toBeNull();
      expect((container as Record<string | number, unknown>)[path[at] as string], show(res)).toBeNull();
    }
  }
}

// --- the tests --------------------------------------------------------------------------------

describe.each(DB_KINDS)("authorization (%s)", (kind) => {
  // A non-member reaches an organization through `viewer.pendingInvites` (up to 100 invites), under
  // which a default page of invites or links costs more than MAX_COST allows: the cost limit is not
  // what this matrix tests (test/http/cost-limit.test.ts does), so it is out of the way here.
  const app = useTestApp(kind, { MAX_COST: "100000000" });
  const w = {} as World;
  const tokenOf = (caller: Caller) => (caller === "anonymous" ? null : w.users[caller].token);

  beforeAll(async () => {
    const a = app.current;
    const settings = { ttlMs: a.testDb.config.inviteTtlMs, dailyLimit: a.testDb.config.inviteRateLimit };
    const admin = await a.seed.user("admin");
    const org = await a.seed.org(admin, "Matrix");
    const users = { ADMIN: admin, nonMember: await a.seed.user("non-member") } as Record<SignedIn, TestUser>;
    for (const role of MEMBER_ROLES) {
      users[role] = await a.seed.user(role.toLowerCase());
      await a.seed.member(org.id, users[role], role);
    }
    Object.assign(w, {
      app: a,
      org: { id: org.id },
      users,
      sideOwner: await a.seed.user("side-owner"),
      roleOf: (caller: Caller) => (caller === "ADMIN" ? "ADMIN" : isMember(caller) ? (caller as MemberRole) : null),
      invite: async (orgId: string, by: TestUser, email: string) => {
        const result = await inviteUsers(
          a.db,
          { organizationId: orgId, actor: { userId: by.id, tokenId: null, subject: null }, input: { emails: [email] } },
          settings,
        );
        const invite = result.invites[0];
        if (!invite) throw new Error(`no invite created for ${email}`);
        return invite.id;
      },
      memberWorld: async (caller: Caller) => {
        const side = await a.seed.org(w.sideOwner, "Members matrix");
        const target = await a.seed.user("member-target");
        await a.seed.member(side.id, target, "READ");
        const self = caller === "anonymous" ? null : users[caller];
        const role = caller === "ADMIN" ? "ADMIN" : isMember(caller) ? (caller as MemberRole) : null;
        if (self && role) await a.seed.member(side.id, self, role);
        return { orgId: side.id, target, self };
      },
      roleIn: async (orgId: string, userId: string) =>
        (await a.db.member.findUnique({ where: { organizationId_userId: { organizationId: orgId, userId } } }))?.role ??
        null,
      newLink: async () => {
        const link = await createLinkInvite(a.db, {
          organizationId: org.id,
          actor: { userId: admin.id, tokenId: null, subject: null },
          input: { role: "READ" },
        });
        return { id: link.id };
      },
    } satisfies Omit<World, "link">);
    w.link = await w.newLink();
    // The non-member is invited to the matrix organization (their route to its nested fields);
    // every signed-in caller has a pending invite to a side organization.
    await w.invite(org.id, admin, users.nonMember.email);
    const pendingOrg = await a.seed.org(w.sideOwner, "Pending");
    for (const caller of CALLERS)
      if (caller !== "anonymous") await w.invite(pendingOrg.id, w.sideOwner, users[caller].email);
  });

  it("the table has a row for every Query and Mutation field of the schema", () => {
    const fields = [schema.getQueryType(), schema.getMutationType()].flatMap((type) =>
      Object.keys(type?.getFields() ?? {}).map((f) => `${type?.name}.${f}`),
    );
    const rows = new Set(ROWS.map((r) => r.name.split(" ")[0]));
    expect(fields.filter((f) => !rows.has(f))).toEqual([]);
  });

  describe.each(ROWS.map((row) => ({ ...row, label: row.name })))("$label", (row) => {
    it.each(CALLERS.map((caller) => [caller, row.expect[caller]] as const))("%s -> %s", async (caller, outcome) => {
      const call = await row.call(caller, w);
      const res = await app.current.gql(call.query, { variables: call.variables ?? {}, token: tokenOf(caller) });
      if (outcome === "ok") {
        expect(res.errors, show(res)).toBeUndefined();
        await row.ok(res.data, caller, w);
        return;
      }
      if (outcome === "ABSENT") {
        expect(call.absent, "an ABSENT cell needs the call's absent answer").toBeDefined();
        expect({ data: res.data, errors: res.errors }, show(res)).toEqual({ data: call.absent, errors: undefined });
        return;
      }
      expectDenied(res, outcome, call.deniedAt, call.query, call.unionMember);
      row.denied?.(res, caller, w);
      await call.unchanged?.();
    });
  });

  it("a non-member gets the same FORBIDDEN for an unknown organization as for an existing one", async () => {
    const query = "query($id: ID!) { organization(id: $id) { id } }";
    const token = w.users.nonMember.token;
    const existing = await app.current.gql(query, { variables: { id: w.org.id }, token });
    const unknown = await app.current.gql(query, { variables: { id: randomUUID() }, token });
    const malformed = await app.current.gql(query, { variables: { id: "not-a-uuid" }, token });
    const strip = (res: GqlResponse) => ({
      status: res.status,
      data: res.data,
      errors: res.errors?.map((e) => ({ message: e.message, code: e.extensions?.code, path: e.path })),
    });
    expect(strip(existing).errors?.[0]?.code).toBe("FORBIDDEN");
    expect(strip(unknown)).toEqual(strip(existing));
    expect(strip(malformed)).toEqual(strip(existing));
  });

  it("denial messages are the service's own, not masked ('Unexpected error.') nor shield's default ('Not Authorised!')", async () => {
    const forbidden = await app.current.gql("query($id: ID!) { organization(id: $id) { id } }", {
      variables: { id: w.org.id },
      token: w.users.nonMember.token,
    });
    const unauthenticated = await app.current.gql("query($id: ID!) { organization(id: $id) { id } }", {
      variables: { id: w.org.id },
    });
    const nested = await app.current.gql("query($id: ID!) { organization(id: $id) { invites { totalCount } } }", {
      variables: { id: w.org.id },
      token: w.users.READ.token,
    });
    for (const [res, code] of [
      [forbidden, "FORBIDDEN"],
      [unauthenticated, "UNAUTHENTICATED"],
      [nested, "FORBIDDEN"],
    ] as const) {
      expect(res.errors?.[0]?.extensions?.code, show(res)).toBe(code);
      const message = res.errors?.[0]?.message;
      expect(message).toBeTruthy();
      expect(message).not.toBe("Unexpected error.");
      expect(message).not.toBe("Not Authorised!");
    }
  });

  describe("credentials", () => {
    async function post(authorization: string | null) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (authorization !== null) headers.authorization = authorization;
      const response = await app.current.yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({ query: "{ viewer { id } }" }),
      });
      const body = (await response.json()) as Pick<GqlResponse, "data" | "errors">;
      return { status: response.status, wwwAuthenticate: response.headers.get("www-authenticate"), ...body };
    }

    it("a valid token is the user; no header is anonymous (controls)", async () => {
      const user = await app.current.seed.user("valid");
      expect(await post(`Bearer ${user.token}`)).toMatchObject({ status: 200, data: { viewer: { id: user.id } } });
      const anonymous = await post(null);
      expect(anonymous).toMatchObject({ status: 200, data: { viewer: null } });
      expect(anonymous.errors).toBeUndefined();
    });

    const rejected: Array<[string, () => Promise<string>]> = [
      ["an unknown token (Bearer nope)", async () => "Bearer nope"],
      [
        "a revoked token",
        async () => {
          const user = await app.current.seed.user("revoked");
          await revokeToken(app.current.db, user.token);
          return `Bearer ${user.token}`;
        },
      ],
      [
        "an expired token",
        async () => {
          const user = await app.current.seed.user("expired");
          const { token } = await createToken(app.current.db, { email: user.email, expiresInMs: 1 });
          await new Promise((resolve) => setTimeout(resolve, 10));
          return `Bearer ${token}`;
        },
      ],
      [
        "a malformed header (Basic abc)",
        async () => {
          return "Basic abc";
        },
      ],
    ];

    it.each(rejected)("%s is UNAUTHENTICATED with HTTP 401, never anonymous", async (_name, header) => {
      const res = await post(await header());
      expect(res.status, JSON.stringify(res)).toBe(401);
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
      // Not treated as anonymous: no `{ viewer: null }` answer.
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.message).not.toBe("Unexpected error.");
      expect(res.wwwAuthenticate).toMatch(/^Bearer/);
    });
  });
});
