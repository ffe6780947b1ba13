/**
 * Every count below went down by one when the token lookup became one statement (ApiToken joined
 * to User; it was two: the token, then its user), and again when Prisma's relationJoins came on
 * (prisma/schema.prisma): a query and the relations it selects, `_count` (totalCount) included,
 * are one statement (LATERAL joins) instead of one per relation level.
 *
 * SQL statements per request must not grow with the page size (no N+1). Each scenario runs the same
 * query at a small and a large size, counts the statements the Prisma client sends, and asserts the
 * two counts are equal and equal to the figure measured when this test was written (a change either
 * way is worth a look). The statements are printed in the failure message.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createLinkInvite } from "../../src/domain/link-invites.js";
import { type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

interface Request {
  query: string;
  variables: Record<string, unknown>;
  token: string;
}

interface Scenario {
  name: string;
  sizes: [small: number, large: number];
  /** Statements per request, measured (the same at both sizes). */
  statements: number;
  /** Seeds what the scenario reads (once) and returns how to ask for `size` items. */
  prepare(app: TestApp): Promise<(size: number) => Request>;
  /** Where the answer's list of items is (it must hold `size` items). */
  items: string[];
}

function listAt(data: unknown, path: string[]): unknown[] | undefined {
  let value = data;
  for (const key of path) value = (value as Record<string, unknown> | null | undefined)?.[key];
  return Array.isArray(value) ? value : undefined;
}

/**
 * `_entities` statements: token (1: ApiToken joined to User), the entities of the type (1), and the batched visibility check
 * the type's rule makes (1), whatever the number of representations. resolveReference makes that check
 * (an entity the viewer may not see is null), and the field rules reuse its decision: no more statements. Organizations come with the
 * viewer's role in the same statement (ctx.access.organization), which the rule then reuses: 2.
 */
const ENTITY_STATEMENTS = { Organization: 2, Invite: 3, LinkInvite: 3, User: 3 } as const;

/** An admin's new organization with 60 PENDING invites, sent through the API in one call. */
async function orgWithSixtyInvites(app: TestApp, label: string) {
  const admin = await app.seed.user(`${label}-admin`);
  const org = await app.seed.org(admin, `Sixty ${label} invites`);
  const emails = Array.from({ length: 60 }, () => uniqueEmail(label));
  const res = await app.gql(
    `mutation($org: ID!, $emails: [String!]!) { inviteUsersToOrganization(organizationId: $org, input: { emails: $emails }) {
      __typename ... on InviteUsersToOrganizationSuccess { invited } } }`,
    { variables: { org: org.id, emails }, token: admin.token },
  );
  expect(res.data?.inviteUsersToOrganization).toEqual({ __typename: "InviteUsersToOrganizationSuccess", invited: 60 });
  return { admin, org };
}

const SCENARIOS: Scenario[] = [
  {
    name: "organization.invites(first: N) with node.organization",
    sizes: [5, 50],
    // token, the role check (which loads the organization's row too: Query.organization answers with
    // it, and so does invite.organization), the first page of invites with totalCount (a window count).
    // Was token, organization + invites + totalCount (one relationJoins query, a JSON object per invite
    // of the organization), the role check.
    statements: 3,
    async prepare(app) {
      const { admin, org } = await orgWithSixtyInvites(app, "bulk");
      return (size) => ({
        query: `query($id: ID!, $first: Int!) { organization(id: $id) { invites(first: $first) {
          totalCount edges { node { id email role status organization { id title } } } } } }`,
        variables: { id: org.id, first: size },
        token: admin.token,
      });
    },
    items: ["organization", "invites", "edges"],
  },
  {
    name: "organization.invites(first: N, status: PENDING)",
    sizes: [5, 50],
    // token, the role check (with the organization's row), the page of invites, totalCount: a filtered
    // page is a findMany and a count (only the first page of every status is one statement).
    statements: 4,
    async prepare(app) {
      const { admin, org } = await orgWithSixtyInvites(app, "pending");
      return (size) => ({
        query: `query($id: ID!, $first: Int!) { organization(id: $id) { invites(first: $first, status: PENDING) {
          totalCount edges { node { id email status } } } } }`,
        variables: { id: org.id, first: size },
        token: admin.token,
      });
    },
    items: ["organization", "invites", "edges"],
  },
  {
    name: "organization.members(first: N) with node.user",
    sizes: [5, 30],
    // was 6 before relationJoins
    statements: 4,
    async prepare(app) {
      const admin = await app.seed.user("members-admin");
      const org = await app.seed.org(admin, "Thirty members");
      for (let i = 1; i < 30; i++)
        await app.seed.member(org.id, await app.seed.user("member"), i % 2 ? "READ" : "EDIT");
      return (size) => ({
        query: `query($id: ID!, $first: Int!) { organization(id: $id) { members(first: $first) {
          edges { node { user { email } role } } } } }`,
        variables: { id: org.id, first: size },
        token: admin.token,
      });
    },
    items: ["organization", "members", "edges"],
  },
  {
    name: "organization.members(first: N, search:, orderBy: NAME_ASC) with node.user and totalCount",
    sizes: [5, 50],
    // token, the role check, the page (Member joined to User, the search an ILIKE on both columns),
    // totalCount (a count with the same filter).
    statements: 4,
    async prepare(app) {
      const admin = await app.seed.user("search-admin");
      const org = await app.seed.org(admin, "Searched");
      for (let i = 0; i < 60; i++) {
        const user = await app.seed.user(i < 50 ? "findme" : "other");
        await app.db.user.update({ where: { id: user.id }, data: { displayName: `Person ${i}` } });
        await app.seed.member(org.id, user, "READ");
      }
      return (size) => ({
        query: `query($id: ID!, $first: Int!) { organization(id: $id) {
          members(first: $first, search: "FINDME", orderBy: NAME_ASC) {
            totalCount edges { node { role user { email displayName } } } } } }`,
        variables: { id: org.id, first: size },
        token: admin.token,
      });
    },
    items: ["organization", "members", "edges"],
  },
  {
    name: "organization.linkInvites(first: N) with redundant, createdBy, organization",
    sizes: [5, 20],
    // was 6 before relationJoins
    statements: 3,
    async prepare(app) {
      const admin = await app.seed.user("links-admin");
      const org = await app.seed.org(admin, "Twenty links");
      for (let i = 0; i < 20; i++) {
        await createLinkInvite(app.db, {
          organizationId: org.id,
          actor: { userId: admin.id, tokenId: null, subject: null },
          input: { role: i % 2 ? "READ" : "EDIT" },
        });
      }
      return (size) => ({
        query: `query($id: ID!, $first: Int!) { organization(id: $id) { linkInvites(first: $first) {
          edges { node { id redundant createdBy { email } organization { title } } } } } }`,
        variables: { id: org.id, first: size },
        token: admin.token,
      });
    },
    items: ["organization", "linkInvites", "edges"],
  },
  {
    name: "organization.auditLog(first: N) with actor",
    sizes: [5, 50],
    // was 6 before relationJoins
    statements: 4,
    async prepare(app) {
      const admin = await app.seed.user("audit-admin");
      const org = await app.seed.org(admin, "Fifty events");
      const other = await app.seed.user("audit-other-admin");
      await app.seed.member(org.id, other, "ADMIN");
      // 50 link.created events by two actors.
      for (let i = 0; i < 50; i++) {
        await createLinkInvite(app.db, {
          organizationId: org.id,
          actor: { userId: (i % 2 ? admin : other).id, tokenId: null, subject: null },
          input: { role: "READ" },
        });
      }
      return (size) => ({
        query: `query($id: ID!, $first: Int!) { organization(id: $id) { auditLog(first: $first) {
          totalCount edges { node { id action targetId createdAt actor { email } } } } } }`,
        variables: { id: org.id, first: size },
        token: admin.token,
      });
    },
    items: ["organization", "auditLog", "edges"],
  },
  {
    name: "viewer.organizations.organization for a user in N organizations",
    sizes: [1, 10],
    // was 5 before relationJoins
    statements: 3,
    async prepare(app) {
      const users = new Map<number, TestUser>();
      for (const n of [1, 10]) {
        const user = await app.seed.user(`in-${n}-orgs`);
        for (let i = 0; i < n; i++) await app.seed.org(user, `Org ${i}`);
        users.set(n, user);
      }
      return (size) => ({
        query: "{ viewer { organizations { organization { title } } } }",
        variables: {},
        token: (users.get(size) as TestUser).token,
      });
    },
    items: ["viewer", "organizations"],
  },
  ...(["Organization", "Invite", "LinkInvite", "User"] as const).map(
    (typename): Scenario => ({
      // A gateway's `_entities` plan: N representations of one type, each with a guarded field.
      // Entities load with findUnique, which Prisma batches into one statement per tick.
      name: `_entities with N ${typename} representations`,
      sizes: [1, 50],
      statements: ENTITY_STATEMENTS[typename],
      async prepare(app) {
        const admin = await app.seed.user(`entities-${typename}`);
        const ids: string[] = [];
        for (let i = 0; i < 50; i++) {
          const org = await app.seed.org(admin, `Entity org ${i}`);
          if (typename === "Organization") ids.push(org.id);
          if (typename === "User") {
            const u = await app.seed.user("entity-user");
            await app.seed.member(org.id, u, "READ");
            ids.push(u.id);
          }
          if (typename === "LinkInvite") {
            ids.push(
              (
                await createLinkInvite(app.db, {
                  organizationId: org.id,
                  actor: { userId: admin.id, tokenId: null, subject: null },
                  input: { role: "READ" },
                })
              ).id,
            );
          }
          if (typename === "Invite") {
            const res = await app.gql(
              `mutation($org: ID!, $e: String!) { inviteUsersToOrganization(organizationId: $org, input: { emails: [$e] }) {
                ... on InviteUsersToOrganizationSuccess { invites { id } } } }`,
              { variables: { org: org.id, e: uniqueEmail("entity-invite") }, token: admin.token },
            );
            ids.push(res.data?.inviteUsersToOrganization.invites[0].id);
          }
        }
        const field = { Organization: "title", Invite: "email", LinkInvite: "url", User: "email" }[typename];
        return (size) => ({
          query: `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on ${typename} { id ${field} } } }`,
          variables: { reps: ids.slice(0, size).map((id) => ({ __typename: typename, id })) },
          token: admin.token,
        });
      },
      items: ["_entities"],
    }),
  ),
  {
    // Beyond the brief: a mutation's payload (plain objects, not loaded through a Prisma query) with
    // relations on each item. Fresh emails per call, so every invite is created, never refreshed.
    name: "inviteUsersToOrganization(N emails) with invites.organization and invitedBy",
    sizes: [5, 50],
    // 13 before the audit log; + the one INSERT of all its audit events (createMany); - 1 since the
    // token lookup joins ApiToken to User in one statement; - 2 with relationJoins; + the one INSERT of
    // all its outbox rows (createMany, src/domain/audit.ts): 13. Since the mutation is one statement
    // (src/domain/invites.ts inviteStatement: no BEGIN/COMMIT, lock, checks, quota, users, invites,
    // audit and outbox together): token, the rule's organization and role, the mutation, invitedBy.
    statements: 4,
    async prepare(app) {
      const admin = await app.seed.user("mutation-admin");
      const org = await app.seed.org(admin, "Invited in bulk");
      return (size) => ({
        query: `mutation($org: ID!, $emails: [String!]!) { inviteUsersToOrganization(organizationId: $org, input: { emails: $emails }) {
          ... on InviteUsersToOrganizationSuccess { invites { id organization { title } invitedBy { email } } } } }`,
        variables: { org: org.id, emails: Array.from({ length: size }, () => uniqueEmail("bulk-mutation")) },
        token: admin.token,
      });
    },
    items: ["inviteUsersToOrganization", "invites"],
  },
];

describe.each(DB_KINDS)("SQL statements per request (%s)", (kind) => {
  const app = useTestApp(kind);
  const ask = new Map<string, (size: number) => Request>();

  beforeAll(async () => {
    for (const scenario of SCENARIOS) ask.set(scenario.name, await scenario.prepare(app.current));
  });

  it.each(SCENARIOS.map((s) => ({ ...s, label: s.name })))("$label", async (scenario) => {
    const prepared = ask.get(scenario.name);
    if (!prepared) throw new Error("not prepared");
    const measured: Array<{ size: number; count: number; statements: string[] }> = [];
    for (const size of scenario.sizes) {
      // Warm the connection and caches once, then count (a fresh request: mutations seed their own).
      const warm = prepared(size);
      await app.current.gql(warm.query, { variables: warm.variables, token: warm.token });
      const request = prepared(size);
      const { result, count, statements } = await app.current.countQueries(() =>
        app.current.gql(request.query, { variables: request.variables, token: request.token }),
      );
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      expect(listAt(result.data, scenario.items)).toHaveLength(size);
      measured.push({ size, count, statements });
    }
    const report = measured
      .map((m) => `N=${m.size}: ${m.count} statements\n${m.statements.map((s, i) => `  ${i + 1}. ${s}`).join("\n")}`)
      .join("\n\n");
    console.log(
      `[sql-counts:${kind}] ${scenario.name}: ${measured.map((m) => `N=${m.size} -> ${m.count}`).join(", ")}`,
    );
    const [small, large] = measured as [(typeof measured)[0], (typeof measured)[0]];
    expect(large.count, `statement count grows with N (N+1):\n${report}`).toBe(small.count);
    expect(small.count, `statement count changed:\n${report}`).toBe(scenario.statements);
  });

  it("organization(id) { id title viewerRole }: the rule's role check loads the row too (token + 1)", async () => {
    const admin = await app.current.seed.user("w1-admin");
    const outsider = await app.current.seed.user("w1-outsider");
    const org = await app.current.seed.org(admin, "One statement");
    const query = "query($id: ID!) { organization(id: $id) { id title viewerRole } }";
    const asAdmin = await app.current.countQueries(() =>
      app.current.gql(query, { variables: { id: org.id }, token: admin.token }),
    );
    expect(asAdmin.result.errors).toBeUndefined();
    expect(asAdmin.result.data).toEqual({
      organization: { id: org.id, title: "One statement", viewerRole: "ADMIN" },
    });
    expect(asAdmin.count, asAdmin.statements.join("\n")).toBe(2);
    // A non-member is refused on the same statement, and sees nothing of the row.
    const asOutsider = await app.current.countQueries(() =>
      app.current.gql(query, { variables: { id: org.id }, token: outsider.token }),
    );
    expect(asOutsider.result.data).toEqual({ organization: null });
    expect(asOutsider.result.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(JSON.stringify(asOutsider.result)).not.toContain("One statement");
  });
});
