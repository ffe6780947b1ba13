/**
 * After the invite: updateMemberRole, removeMember, leaveOrganization, Organization.member and
 * Organization.members(role, search, orderBy), through yoga.fetch on both databases. The results,
 * the last-admin rule, the audit and outbox events, access that ends at once, and the SQL each
 * mutation sends. (The race of two admins at once on PostgreSQL: test/stress/last-admin.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthCache } from "../../src/auth/tokens.js";
import { createGraphQLHandler } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { type TestApp, type TestUser, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { type ServedApp, serveWithEvents } from "../helpers/events.js";
import { subscribe } from "../helpers/sse.js";
import { until } from "../helpers/wait.js";

const UPDATE_ROLE = /* GraphQL */ `
  mutation ($o: ID!, $u: ID!, $r: MemberRole!) {
    updateMemberRole(organizationId: $o, userId: $u, role: $r) {
      __typename
      ... on Error { code message }
      ... on UpdateMemberRoleSuccess { member { role user { id } } }
    }
  }
`;
const REMOVE = /* GraphQL */ `
  mutation ($o: ID!, $u: ID!) {
    removeMember(organizationId: $o, userId: $u) {
      __typename
      ... on Error { code message }
      ... on RemoveMemberSuccess { userId }
    }
  }
`;
const LEAVE = /* GraphQL */ `
  mutation ($o: ID!) {
    leaveOrganization(organizationId: $o) {
      __typename
      ... on Error { code message }
      ... on LeaveOrganizationSuccess { organizationId }
    }
  }
`;
const MEMBER = `query($o: ID!, $u: ID!) { organization(id: $o) { member(userId: $u) { role user { id } } } }`;
const VIEWER_ROLE = `query($o: ID!) { organization(id: $o) { viewerRole } }`;
const MEMBERS = /* GraphQL */ `
  query ($o: ID!, $first: Int, $after: String, $role: MemberRole, $search: String, $orderBy: MemberOrder) {
    organization(id: $o) {
      members(first: $first, after: $after, role: $role, search: $search, orderBy: $orderBy) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { role user { id email displayName } } }
      }
    }
  }
`;
const LINKS = `query($o: ID!) { organization(id: $o) { linkInvites(first: 1) { totalCount } } }`;

function codeOf(res: { data?: any; errors?: Array<{ extensions?: Record<string, unknown> }> }): unknown {
  return res.errors?.[0]?.extensions?.code;
}

describe.each(DB_KINDS)("members (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  /** An organization owned by a new admin, with one member of each given role. */
  async function world(roles: Array<"ADMIN" | "EDIT" | "READ" | "GUEST"> = ["EDIT"]) {
    const { id, owner } = await a.seed.org(undefined, "Members");
    const members: TestUser[] = [];
    for (const role of roles) {
      const user = await a.seed.user(`m-${role.toLowerCase()}`);
      await a.seed.member(id, user, role);
      members.push(user);
    }
    return { orgId: id, owner, members };
  }

  const roleIn = async (orgId: string, userId: string) =>
    (await a.db.member.findUnique({ where: { organizationId_userId: { organizationId: orgId, userId } } }))?.role ??
    null;

  it("an admin changes a role (GUEST too); the same role again is a success that records nothing", async () => {
    const { orgId, owner, members } = await world(["EDIT"]);
    const [editor] = members as [TestUser];
    const res = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: editor.id, r: "REVIEW" }, token: owner.token });
    expect(res.data?.updateMemberRole).toEqual({
      __typename: "UpdateMemberRoleSuccess",
      member: { role: "REVIEW", user: { id: editor.id } },
    });
    const guest = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: editor.id, r: "GUEST" }, token: owner.token });
    expect(guest.data?.updateMemberRole.member.role).toBe("GUEST");
    const again = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: editor.id, r: "GUEST" }, token: owner.token });
    expect(again.data?.updateMemberRole.member.role).toBe("GUEST");
    const events = await a.db.auditEvent.findMany({
      where: { organizationId: orgId },
      orderBy: { createdAt: "asc" },
      select: { action: true, targetId: true, actorId: true, details: true },
    });
    expect(events).toEqual([
      {
        action: "member.role_changed",
        targetId: editor.id,
        actorId: owner.id,
        details: { previousRole: "EDIT", role: "REVIEW" },
      },
      {
        action: "member.role_changed",
        targetId: editor.id,
        actorId: owner.id,
        details: { previousRole: "REVIEW", role: "GUEST" },
      },
    ]);
    // The same events in the outbox, the webhook body carrying both roles.
    const outbox = await a.db.outboxEvent.findMany({ where: { organizationId: orgId }, orderBy: { createdAt: "asc" } });
    expect(outbox.map((e) => e.payload)).toEqual([
      expect.objectContaining({
        action: "member.role_changed",
        targetId: editor.id,
        details: { previousRole: "EDIT", role: "REVIEW" },
      }),
      expect.objectContaining({
        action: "member.role_changed",
        targetId: editor.id,
        details: { previousRole: "REVIEW", role: "GUEST" },
      }),
    ]);
    const log = await a.gql(
      `query($o: ID!) { organization(id: $o) { auditLog(first: 5) { edges { node { action targetId previousRole role } } } } }`,
      { variables: { o: orgId }, token: owner.token },
    );
    expect(log.data?.organization.auditLog.edges.map((e: any) => e.node)).toEqual([
      { action: "member.role_changed", targetId: editor.id, previousRole: "REVIEW", role: "GUEST" },
      { action: "member.role_changed", targetId: editor.id, previousRole: "EDIT", role: "REVIEW" },
    ]);
  });

  it("a user who is not a member is NOT_FOUND for each mutation, and nothing is written", async () => {
    const { orgId, owner } = await world([]);
    const stranger = await a.seed.user("stranger");
    const update = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: stranger.id, r: "READ" }, token: owner.token });
    expect(update.data?.updateMemberRole).toMatchObject({ __typename: "NotFoundError", code: "NOT_FOUND" });
    const remove = await a.gql(REMOVE, { variables: { o: orgId, u: stranger.id }, token: owner.token });
    expect(remove.data?.removeMember).toMatchObject({ __typename: "NotFoundError", code: "NOT_FOUND" });
    const unknown = await a.gql(REMOVE, { variables: { o: orgId, u: "no-such-user" }, token: owner.token });
    expect(unknown.data?.removeMember.code).toBe("NOT_FOUND");
    expect(await a.db.auditEvent.count({ where: { organizationId: orgId } })).toBe(0);
  });

  it("LAST_ADMIN: the only admin cannot demote, remove or leave themself; nothing changes", async () => {
    const { orgId, owner, members } = await world(["EDIT"]);
    const demote = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: owner.id, r: "EDIT" }, token: owner.token });
    expect(demote.data?.updateMemberRole).toMatchObject({ __typename: "LastAdminError", code: "LAST_ADMIN" });
    const remove = await a.gql(REMOVE, { variables: { o: orgId, u: owner.id }, token: owner.token });
    expect(remove.data?.removeMember).toMatchObject({ __typename: "LastAdminError", code: "LAST_ADMIN" });
    const leave = await a.gql(LEAVE, { variables: { o: orgId }, token: owner.token });
    expect(leave.data?.leaveOrganization).toMatchObject({ __typename: "LastAdminError", code: "LAST_ADMIN" });
    expect(await roleIn(orgId, owner.id)).toBe("ADMIN");
    expect(await a.db.member.count({ where: { organizationId: orgId } })).toBe(1 + members.length);
    expect(await a.db.auditEvent.count({ where: { organizationId: orgId } })).toBe(0);
  });

  it("with a second admin, an admin may demote another admin, and leave; the other is then the last", async () => {
    const { orgId, owner, members } = await world(["ADMIN"]);
    const [second] = members as [TestUser];
    const demote = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: second.id, r: "READ" }, token: owner.token });
    expect(demote.data?.updateMemberRole.member.role).toBe("READ");
    const back = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: second.id, r: "ADMIN" }, token: owner.token });
    expect(back.data?.updateMemberRole.member.role).toBe("ADMIN");
    const leave = await a.gql(LEAVE, { variables: { o: orgId }, token: owner.token });
    expect(leave.data?.leaveOrganization).toEqual({ __typename: "LeaveOrganizationSuccess", organizationId: orgId });
    expect(await roleIn(orgId, owner.id)).toBeNull();
    const last = await a.gql(LEAVE, { variables: { o: orgId }, token: second.token });
    expect(last.data?.leaveOrganization.code).toBe("LAST_ADMIN");
    const actions = await a.db.auditEvent.findMany({
      where: { organizationId: orgId },
      orderBy: { createdAt: "asc" },
      select: { action: true, targetId: true, actorId: true },
    });
    expect(actions.at(-1)).toEqual({ action: "member.left", targetId: owner.id, actorId: owner.id });
  });

  it("removeMember: an admin removes a member (member.removed); a member removes themself (member.left); grants go", async () => {
    const { orgId, owner, members } = await world(["EDIT", "GUEST"]);
    const [editor, guest] = members as [TestUser, TestUser];
    await a.db.memberGrant.create({
      data: { organizationId: orgId, userId: guest.id, kind: "SPACE", targetId: "space-1", role: "READ" },
    });
    const removed = await a.gql(REMOVE, { variables: { o: orgId, u: guest.id }, token: owner.token });
    expect(removed.data?.removeMember).toEqual({ __typename: "RemoveMemberSuccess", userId: guest.id });
    expect(await a.db.memberGrant.count({ where: { organizationId: orgId, userId: guest.id } })).toBe(0);
    const self = await a.gql(REMOVE, { variables: { o: orgId, u: editor.id }, token: editor.token });
    expect(self.data?.removeMember).toEqual({ __typename: "RemoveMemberSuccess", userId: editor.id });
    const events = await a.db.auditEvent.findMany({
      where: { organizationId: orgId },
      orderBy: { createdAt: "asc" },
      select: { action: true, targetId: true, actorId: true },
    });
    expect(events).toEqual([
      { action: "member.removed", targetId: guest.id, actorId: owner.id },
      { action: "member.left", targetId: editor.id, actorId: editor.id },
    ]);
    expect(await a.db.outboxEvent.count({ where: { organizationId: orgId } })).toBe(2);
  });

  it("Organization.member: a member's membership, null for a user who is not one", async () => {
    const { orgId, owner, members } = await world(["READ"]);
    const [reader] = members as [TestUser];
    const stranger = await a.seed.user("stranger");
    const one = await a.gql(MEMBER, { variables: { o: orgId, u: owner.id }, token: reader.token });
    expect(one.data?.organization.member).toEqual({ role: "ADMIN", user: { id: owner.id } });
    const none = await a.gql(MEMBER, { variables: { o: orgId, u: stranger.id }, token: reader.token });
    expect(none).toMatchObject({ data: { organization: { member: null } }, errors: undefined });
  });

  it("access ends at once: the removed member's next request is FORBIDDEN, with the token cache on", async () => {
    const cache = createAuthCache({ ttlMs: 600_000, maxEntries: 100 });
    const yoga = createGraphQLHandler({
      db: a.db,
      config: a.testDb.config,
      logger: createLogger("silent"),
      authCache: cache,
    });
    const ask = async (token: string, query: string, variables: Record<string, unknown>) => {
      const res = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as { data?: any; errors?: Array<{ extensions?: Record<string, unknown> }> };
    };
    try {
      const { orgId, owner, members } = await world(["READ", "ADMIN"]);
      const [reader, admin] = members as [TestUser, TestUser];
      // Both tokens are cached now (the cache keeps token -> user, never a role).
      expect((await ask(reader.token, VIEWER_ROLE, { o: orgId })).data.organization.viewerRole).toBe("READ");
      expect((await ask(admin.token, LINKS, { o: orgId })).data.organization.linkInvites.totalCount).toBe(0);
      expect(cache.size).toBe(2);
      expect((await ask(owner.token, REMOVE, { o: orgId, u: reader.id })).data.removeMember.userId).toBe(reader.id);
      expect(codeOf(await ask(reader.token, VIEWER_ROLE, { o: orgId }))).toBe("FORBIDDEN");
      expect(
        (await ask(owner.token, UPDATE_ROLE, { o: orgId, u: admin.id, r: "EDIT" })).data.updateMemberRole.member.role,
      ).toBe("EDIT");
      // The demoted admin loses admin rights on the next request, and keeps the member's.
      expect(codeOf(await ask(admin.token, LINKS, { o: orgId }))).toBe("FORBIDDEN");
      expect((await ask(admin.token, VIEWER_ROLE, { o: orgId })).data.organization.viewerRole).toBe("EDIT");
      expect(codeOf(await ask(admin.token, UPDATE_ROLE, { o: orgId, u: owner.id, r: "READ" }))).toBe("FORBIDDEN");
    } finally {
      await yoga.dispose();
      cache.close();
    }
  });

  it("the rest of the same request sees the change: after leaving, the next field is FORBIDDEN", async () => {
    const { orgId, members } = await world(["ADMIN", "READ"]);
    const [admin, reader] = members as [TestUser, TestUser];
    const res = await a.gql(
      `mutation($o: ID!, $u: ID!) {
        leave: leaveOrganization(organizationId: $o) { __typename }
        remove: removeMember(organizationId: $o, userId: $u) { __typename }
      }`,
      { variables: { o: orgId, u: reader.id }, token: admin.token },
    );
    // The second field's denial nulls `data` (its result is non-null), but the first has committed.
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[["remove"], "FORBIDDEN"]]);
    expect(await roleIn(orgId, admin.id)).toBeNull();
    expect(await roleIn(orgId, reader.id)).toBe("READ");
  });

  describe("members(role, search, orderBy)", () => {
    let orgId: string;
    let owner: TestUser;
    const people: Array<{ id: string; email: string; name: string | null }> = [];
    beforeAll(async () => {
      ({ orgId, owner } = await world([]));
      const names = ["Zoë Adams", "Bob Builder", "Alice Zed", null, "Carol 100%_done"];
      for (const [i, name] of names.entries()) {
        const user = await a.seed.user(i === 3 ? "ALICE-nameless" : "person");
        await a.db.user.update({ where: { id: user.id }, data: { displayName: name } });
        await a.db.member.create({
          data: {
            organizationId: orgId,
            userId: user.id,
            role: i % 2 ? "EDIT" : "READ",
            joinedAt: new Date(Date.UTC(2026, 0, i + 1)),
          },
        });
        people.push({ id: user.id, email: user.email, name });
      }
    });
    const list = async (variables: Record<string, unknown>) => {
      const res = await a.gql(MEMBERS, { variables: { o: orgId, ...variables }, token: owner.token });
      expect(res.errors).toBeUndefined();
      return res.data?.organization.members;
    };
    const ids = (conn: any) => conn.edges.map((e: any) => e.node.user.id);

    it("searches name or email, any case, as a substring; % and _ are plain characters", async () => {
      const alice = await list({ search: "ALIce" });
      expect(new Set(ids(alice))).toEqual(new Set([people[2]?.id, people[3]?.id]));
      expect(alice.totalCount).toBe(2);
      expect(ids(await list({ search: "  builder " }))).toEqual([people[1]?.id]);
      expect(ids(await list({ search: "100%_d" }))).toEqual([people[4]?.id]);
      expect((await list({ search: "%" })).totalCount).toBe(1);
      expect((await list({ search: "_" })).totalCount).toBe(1);
      expect(ids(await list({ search: "alice", role: "EDIT" }))).toEqual([people[3]?.id]);
      expect((await list({ search: "" })).totalCount).toBe(people.length + 1);
    });

    it("orders by joinedAt (newest first by default) or by name, nameless last; cursors page through", async () => {
      const byJoined = ids(await list({ role: "READ" }));
      expect(byJoined).toEqual([people[4]?.id, people[2]?.id, people[0]?.id]);
      expect(ids(await list({ role: "READ", orderBy: "JOINED_AT_ASC" }))).toEqual([...byJoined].reverse());
      const names = (conn: any) => conn.edges.map((e: any) => e.node.user.displayName);
      const asc = await list({ orderBy: "NAME_ASC", search: "person" });
      expect(names(asc)).toEqual(["Alice Zed", "Bob Builder", "Carol 100%_done", "Zoë Adams"]);
      expect(names(await list({ orderBy: "NAME_DESC", search: "person" }))).toEqual([
        "Zoë Adams",
        "Carol 100%_done",
        "Bob Builder",
        "Alice Zed",
      ]);
      expect(names(await list({ orderBy: "NAME_ASC" })).at(-1)).toBeNull();
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page: any = await list({ orderBy: "NAME_ASC", first: 2, after });
        seen.push(...ids(page));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen).toEqual(ids(await list({ orderBy: "NAME_ASC" })));
      expect(seen).toHaveLength(people.length + 1);
    });

    it("a search longer than 200 characters is BAD_USER_INPUT; 200 are searched", async () => {
      const long = await a.gql(MEMBERS, { variables: { o: orgId, search: "x".repeat(201) }, token: owner.token });
      expect(long.errors?.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);
      expect(long.errors?.[0]?.message).toBe("search is longer than 200 characters");
      expect(ids(await list({ search: "x".repeat(200) }))).toEqual([]);
    });

    it("an edited cursor whose parts are not text is BAD_USER_INPUT, not a crash; one of another organization finds nothing", async () => {
      const cursor = (text: string) => Buffer.from(`GPC:${text}`).toString("base64");
      for (const after of [
        cursor(`T:${JSON.stringify([`S:${orgId}`, "N:1"])}`),
        cursor(`T:${JSON.stringify(["Z:", `S:${owner.id}`])}`),
        cursor(`T:${JSON.stringify([`S:${orgId}`, "D:0"])}`),
      ]) {
        const res = await a.gql(MEMBERS, { variables: { o: orgId, after }, token: owner.token });
        expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
        expect(res.errors?.[0]?.message).toBe("Invalid cursor in after");
      }
      // The same for every connection (here an id cursor of the invites).
      const invites = await a.gql(
        `query($o: ID!, $a: String) { organization(id: $o) { invites(after: $a) { totalCount } } }`,
        {
          variables: { o: orgId, a: cursor("N:1") },
          token: owner.token,
        },
      );
      expect(invites.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      // A well-formed cursor naming a member of another organization is no oracle: nothing follows it.
      const other = await a.seed.org(undefined, "Other");
      const foreign = cursor(`T:${JSON.stringify([`S:${other.id}`, `S:${other.owner.id}`])}`);
      expect(ids(await list({ after: foreign }))).toEqual([]);
    });
  });

  describe("SQL statements", () => {
    it("each mutation: a fixed number of statements", async () => {
      const { orgId, owner, members } = await world(["EDIT", "READ", "ADMIN"]);
      const [editor, reader, admin] = members as [TestUser, TestUser, TestUser];
      const update = await a.countQueries(() =>
        a.gql(
          `mutation($o: ID!, $u: ID!) { updateMemberRole(organizationId: $o, userId: $u, role: READ) { __typename } }`,
          {
            variables: { o: orgId, u: editor.id },
            token: owner.token,
          },
        ),
      );
      const remove = await a.countQueries(() =>
        a.gql(`mutation($o: ID!, $u: ID!) { removeMember(organizationId: $o, userId: $u) { __typename } }`, {
          variables: { o: orgId, u: reader.id },
          token: owner.token,
        }),
      );
      const leave = await a.countQueries(() =>
        a.gql(`mutation($o: ID!) { leaveOrganization(organizationId: $o) { __typename } }`, {
          variables: { o: orgId },
          token: admin.token,
        }),
      );
      const lastAdmin = await a.countQueries(() =>
        a.gql(`mutation($o: ID!) { leaveOrganization(organizationId: $o) { __typename } }`, {
          variables: { o: orgId },
          token: owner.token,
        }),
      );
      expect(update.result.data?.updateMemberRole.__typename).toBe("UpdateMemberRoleSuccess");
      expect(remove.result.data?.removeMember.__typename).toBe("RemoveMemberSuccess");
      expect(leave.result.data?.leaveOrganization.__typename).toBe("LeaveOrganizationSuccess");
      expect(lastAdmin.result.data?.leaveOrganization.__typename).toBe("LastAdminError");
      const counts = { update: update.count, remove: remove.count, leave: leave.count, lastAdmin: lastAdmin.count };
      console.info(`members SQL (${kind}): ${JSON.stringify(counts)}`);
      expect(counts, JSON.stringify({ update: update.statements, remove: remove.statements }, null, 1)).toEqual(
        MUTATION_STATEMENTS,
      );
    });

    it("members(search:) sends as many statements at 5 as at 50 members", async () => {
      const counts: number[] = [];
      for (const size of [5, 50]) {
        const { orgId, owner } = await world([]);
        for (let i = 0; i < size; i++) {
          const user = await a.seed.user("findme");
          await a.seed.member(orgId, user, "READ");
        }
        const res = await a.countQueries(() =>
          a.gql(MEMBERS, { variables: { o: orgId, search: "FINDME", first: 100 }, token: owner.token }),
        );
        expect(res.result.errors).toBeUndefined();
        expect(res.result.data?.organization.members.edges).toHaveLength(size);
        expect(res.result.data?.organization.members.totalCount).toBe(size);
        counts.push(res.count);
      }
      console.info(`members(search:) SQL (${kind}): ${counts.join(" at 5, ")} at 50`);
      expect(counts).toEqual([SEARCH_STATEMENTS, SEARCH_STATEMENTS]);
    });
  });
});

/**
 * Per request: the token (1), then the rule's role in the organization (1), then the transaction
 * (BEGIN is not reported by Prisma's query log): the locking read of the admins and the target (1),
 * the change (update: 1; removal: the grants and the membership, 2), the audit log and the outbox
 * (2), COMMIT (1). LAST_ADMIN: the token, the role, the locking read, ROLLBACK.
 */
const MUTATION_STATEMENTS = { update: 7, remove: 8, leave: 8, lastAdmin: 4 };
/** The token, the organization with the viewer's role, the page, its total. */
const SEARCH_STATEMENTS = 4;

// SSE: the stream of an admin who is removed or demoted by the mutation ends at its own event.
describe.each(DB_KINDS)("organizationEvents of a removed or demoted admin (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  let served: ServedApp;
  let url: string;
  beforeAll(async () => {
    a = app.current;
    served = await serveWithEvents(a);
    url = served.url;
  });
  afterAll(async () => {
    await served?.close();
  });

  it.each(["removeMember", "updateMemberRole"] as const)(
    "%s ends the watcher's stream: the change's own event is not delivered, FORBIDDEN is the last message",
    async (mutation) => {
      const { id: orgId, owner } = await a.seed.org(undefined, "Watched");
      const watcher = await a.seed.user("watcher");
      await a.seed.member(orgId, watcher, "ADMIN");
      const other = await a.seed.user("other");
      await a.seed.member(orgId, other, "READ");
      const ownerSub = await subscribe(url, owner.token, orgId);
      const sub = await subscribe(url, watcher.token, orgId);
      try {
        await until("both subscriptions to start", () => served.events.bus.subscriptions() === 2);
        const bump = await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: other.id, r: "EDIT" }, token: owner.token });
        expect(bump.data?.updateMemberRole.member.role).toBe("EDIT");
        expect((await sub.next())?.data.data.organizationEvents.action).toBe("member.role_changed");
        const change =
          mutation === "removeMember"
            ? await a.gql(REMOVE, { variables: { o: orgId, u: watcher.id }, token: owner.token })
            : await a.gql(UPDATE_ROLE, { variables: { o: orgId, u: watcher.id, r: "EDIT" }, token: owner.token });
        expect(change.errors).toBeUndefined();
        const refused = await sub.next();
        expect(refused?.data.data ?? null).toBeNull();
        expect(refused?.data.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
        const last = await sub.next();
        expect(last === null || last.event === "complete").toBe(true);
        // The owner's stream carries both events.
        expect((await ownerSub.next())?.data.data.organizationEvents.action).toBe("member.role_changed");
        expect((await ownerSub.next())?.data.data.organizationEvents).toMatchObject({
          action: mutation === "removeMember" ? "member.removed" : "member.role_changed",
          targetId: watcher.id,
        });
      } finally {
        sub.close();
        ownerSub.close();
      }
      await until("the subscriptions to end", () => served.events.bus.subscriptions() === 0);
    },
  );
});

// The rule (src/graphql/permissions.ts) reads the caller's role before the mutation's transaction: a caller
// demoted or removed between the two must not act as the admin it was. PostgreSQL only: the test
// holds the rows locked from a connection of its own while the request's rule runs.
describe.skipIf(!DB_KINDS.includes("postgres"))("an admin demoted while its mutation waits (postgres)", () => {
  const app = useTestApp("postgres");

  it("updateMemberRole and removeMember by an admin demoted between the rule and the transaction: FORBIDDEN, nothing changes", async () => {
    const a = app.current;
    const { id: orgId, owner } = await a.seed.org(undefined, "Race");
    const [rogue, third, editor] = [await a.seed.user("rogue"), await a.seed.user("third"), await a.seed.user("ed")];
    await a.seed.member(orgId, rogue, "ADMIN");
    await a.seed.member(orgId, third, "ADMIN");
    await a.seed.member(orgId, editor, "EDIT");
    const pg = await import("pg");
    const other = new pg.default.Client({ connectionString: a.testDb.url as string });
    await other.connect();
    try {
      for (const [label, query, variables] of [
        ["update", UPDATE_ROLE, { o: orgId, u: owner.id, r: "READ" }],
        ["remove", REMOVE, { o: orgId, u: editor.id }],
      ] as const) {
        await a.db.member.update({
          where: { organizationId_userId: { organizationId: orgId, userId: rogue.id } },
          data: { role: "ADMIN" },
        });
        // Another admin demotes the rogue: its transaction holds every member row until it commits.
        await other.query("BEGIN");
        await other.query(`SELECT 1 FROM "Member" WHERE "organizationId" = $1 FOR UPDATE`, [orgId]);
        await other.query(`UPDATE "Member" SET "role" = 'READ' WHERE "organizationId" = $1 AND "userId" = $2`, [
          orgId,
          rogue.id,
        ]);
        // The rogue's request passes its rule (the demotion is not committed yet), then waits for the locks.
        const pending = a.gql(query, { variables, token: rogue.token });
        await until(`the ${label} to wait for the locks`, async () => {
          const { rows } = await other.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return rows.length > 0;
        });
        await other.query("COMMIT");
        const res = await pending;
        expect(codeOf(res), label).toBe("FORBIDDEN");
      }
      expect(await a.db.member.findMany({ where: { organizationId: orgId }, orderBy: { userId: "asc" } })).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ userId: owner.id, role: "ADMIN" }),
          expect.objectContaining({ userId: editor.id, role: "EDIT" }),
        ]),
      );
      expect(await a.db.auditEvent.count({ where: { organizationId: orgId, action: { startsWith: "member." } } })).toBe(
        0,
      );
    } finally {
      await other.end();
    }
  });
});
