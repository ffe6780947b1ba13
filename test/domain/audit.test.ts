/**
 * The audit log: every invite/link mutation records one event per change, in its own transaction
 * (nothing for a failed or no-op call), readable newest first by admins in Organization.auditLog.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { actorOf, recordAuditEvents } from "../../src/domain/audit.js";
import { revokeInvite } from "../../src/domain/invites.js";
import { inTransaction } from "../../src/domain/tx.js";
import { userForJwtIdentity } from "../../src/domain/users.js";
import { gqlData, type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails }) {
      __typename
      ... on Error { code }
      ... on InviteUsersToOrganizationSuccess { invites { id email } }
    }
  }
`;
const REVOKE_INVITE = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    revokeInvite(organizationId: $o, inviteId: $i) { __typename ... on Error { code } }
  }
`;
const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!) {
    createLinkInvite(organizationId: $o, input: { role: READ }) {
      __typename ... on CreateLinkInviteSuccess { linkInvite { id } }
    }
  }
`;
const UPDATE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!, $input: UpdateLinkInviteInput!) {
    updateLinkInvite(organizationId: $o, inviteId: $i, input: $input) { __typename ... on Error { code } }
  }
`;
const REVOKE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    revokeLinkInvite(organizationId: $o, inviteId: $i) { __typename ... on RevokeLinkInviteSuccess { existed } }
  }
`;
const JOIN = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    joinOrganizationWithInvite(organizationId: $o, inviteId: $i) { __typename ... on Error { code } }
  }
`;
const AUDIT_LOG = /* GraphQL */ `
  query ($o: ID!, $first: Int, $after: String) {
    organization(id: $o) {
      auditLog(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id action targetId createdAt actor { id } } }
      }
    }
  }
`;

interface EventNode {
  id: string;
  action: string;
  targetId: string | null;
  createdAt: string;
  actor: { id: string } | null;
}

describe.each(DB_KINDS)("audit log (%s)", (kind) => {
  // A small daily quota, so a RATE_LIMITED call is cheap to provoke.
  const app = useTestApp(kind, { INVITE_RATE_LIMIT: "5" });
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  const ok = (query: string, variables: Record<string, unknown>, user: TestUser) => gqlData(a, query, variables, user);

  async function auditLog(orgId: string, admin: TestUser, first?: number, after?: string) {
    const data = await ok(AUDIT_LOG, { o: orgId, first, after }, admin);
    return data.organization.auditLog as {
      totalCount: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      edges: Array<{ cursor: string; node: EventNode }>;
    };
  }

  const eventCount = (organizationId: string) => a.db.auditEvent.count({ where: { organizationId } });
  const tokenIdOf = async (user: TestUser) =>
    (await a.db.apiToken.findFirstOrThrow({ where: { userId: user.id }, select: { id: true } })).id;

  it("records every action once, with actor, target, organization and credential, newest first", async () => {
    const admin = await a.seed.user("audit-admin");
    const org = await a.seed.org(admin, "Audited");
    const invitee = await a.seed.user("invitee");
    const linkUser = await a.seed.user("link-user");
    const bystander = uniqueEmail("bystander");

    const invited = await ok(INVITE, { o: org.id, emails: [invitee.email, bystander] }, admin);
    const invites = invited.inviteUsersToOrganization.invites as Array<{ id: string; email: string }>;
    const inviteeInvite = invites.find((i) => i.email === invitee.email)?.id as string;
    const bystanderInvite = invites.find((i) => i.email === bystander)?.id as string;
    await ok(INVITE, { o: org.id, emails: [invitee.email] }, admin); // refresh
    await ok(REVOKE_INVITE, { o: org.id, i: bystanderInvite }, admin);
    expect((await ok(JOIN, { o: org.id, i: inviteeInvite }, invitee)).joinOrganizationWithInvite.__typename).toBe(
      "JoinOrganizationWithInviteSuccess",
    );
    const link = (await ok(CREATE_LINK, { o: org.id }, admin)).createLinkInvite.linkInvite.id as string;
    await ok(UPDATE_LINK, { o: org.id, i: link, input: { maxUses: 5 } }, admin);
    expect((await ok(JOIN, { o: org.id, i: link }, linkUser)).joinOrganizationWithInvite.__typename).toBe(
      "JoinOrganizationWithInviteSuccess",
    );
    expect((await ok(REVOKE_LINK, { o: org.id, i: link }, admin)).revokeLinkInvite).toEqual({
      __typename: "RevokeLinkInviteSuccess",
      existed: true,
    });
    // Another organization's events stay in that organization's log.
    const elsewhere = await a.seed.org(admin, "Elsewhere");
    await ok(CREATE_LINK, { o: elsewhere.id }, admin);

    const log = await auditLog(org.id, admin);
    const seen = log.edges.map((e) => ({ action: e.node.action, targetId: e.node.targetId, actor: e.node.actor?.id }));
    expect(log.totalCount).toBe(9);
    expect(seen.slice(0, 7)).toEqual([
      { action: "link.revoked", targetId: link, actor: admin.id },
      { action: "link.used", targetId: link, actor: linkUser.id },
      { action: "link.updated", targetId: link, actor: admin.id },
      { action: "link.created", targetId: link, actor: admin.id },
      { action: "invite.accepted", targetId: inviteeInvite, actor: invitee.id },
      { action: "invite.revoked", targetId: bystanderInvite, actor: admin.id },
      { action: "invite.refreshed", targetId: inviteeInvite, actor: admin.id },
    ]);
    // Both invites of the first call were created in one statement, at one instant.
    expect(seen.slice(7)).toEqual(
      expect.arrayContaining([
        { action: "invite.created", targetId: inviteeInvite, actor: admin.id },
        { action: "invite.created", targetId: bystanderInvite, actor: admin.id },
      ]),
    );
    const times = log.edges.map((e) => new Date(e.node.createdAt).getTime());
    expect([...times].sort((x, y) => y - x)).toEqual(times);

    // Stored with the organization and the API token each actor used (no JWT subject).
    const rows = await a.db.auditEvent.findMany({ where: { organizationId: org.id } });
    expect(rows).toHaveLength(9);
    const tokenOfActor = new Map<string | null, string>();
    for (const user of [admin, invitee, linkUser]) tokenOfActor.set(user.id, await tokenIdOf(user));
    for (const row of rows) {
      expect(row.organizationId).toBe(org.id);
      expect(row.actorSubject).toBeNull();
      expect(row.actorTokenId).toBe(tokenOfActor.get(row.actorId));
    }
    expect(await eventCount(elsewhere.id)).toBe(1);
  });

  it("records the JWT subject (and no token) for a JWT caller", async () => {
    const admin = await a.seed.user("jwt-admin");
    const org = await a.seed.org(admin, "JWT audited");
    const subject = `sub-${Date.now()}`;
    const viewer = await userForJwtIdentity(a.db, { subject, email: uniqueEmail("jwt"), emailVerified: true });
    expect(viewer).toMatchObject({ subject, tokenId: null });
    await a.seed.member(org.id, { id: viewer.id, email: viewer.email as string, token: "" }, "ADMIN");
    const invite = (await ok(INVITE, { o: org.id, emails: [uniqueEmail("to-revoke")] }, admin))
      .inviteUsersToOrganization.invites[0].id as string;
    await revokeInvite(a.db, { organizationId: org.id, inviteId: invite, actor: actorOf(viewer) });
    const row = await a.db.auditEvent.findFirstOrThrow({ where: { organizationId: org.id, action: "invite.revoked" } });
    expect(row).toMatchObject({ actorId: viewer.id, actorSubject: subject, actorTokenId: null, targetId: invite });
  });

  it("a failed, refused or no-op mutation writes no event", async () => {
    const admin = await a.seed.user("fail-admin");
    const org = await a.seed.org(admin, "Failures");
    const member = await a.seed.user("already");
    await a.seed.member(org.id, member, "READ");

    // RATE_LIMITED (limit 5 a day): the whole call fails, nothing is written.
    const tooMany = Array.from({ length: 6 }, () => uniqueEmail("over"));
    expect((await ok(INVITE, { o: org.id, emails: tooMany }, admin)).inviteUsersToOrganization).toEqual({
      __typename: "RateLimitedError",
      code: "RATE_LIMITED",
    });
    expect(await eventCount(org.id)).toBe(0);

    // ALREADY_MEMBER join with a link: no use counted, no event.
    const link = (await ok(CREATE_LINK, { o: org.id }, admin)).createLinkInvite.linkInvite.id as string;
    expect(await eventCount(org.id)).toBe(1);
    expect((await ok(JOIN, { o: org.id, i: link }, member)).joinOrganizationWithInvite).toEqual({
      __typename: "AlreadyMemberError",
      code: "ALREADY_MEMBER",
    });
    expect((await a.db.linkInvite.findUniqueOrThrow({ where: { id: link } })).uses).toBe(0);
    // An update that changes nothing, revoking an unknown link: no event.
    await ok(UPDATE_LINK, { o: org.id, i: link, input: { role: "READ" } }, admin);
    expect((await ok(REVOKE_LINK, { o: org.id, i: "no-such-link-0000000000" }, admin)).revokeLinkInvite).toEqual({
      __typename: "RevokeLinkInviteSuccess",
      existed: false,
    });
    expect(await eventCount(org.id)).toBe(1);

    // Revoking an accepted invite is refused: no event.
    const joiner = await a.seed.user("joiner");
    const invite = (await ok(INVITE, { o: org.id, emails: [joiner.email] }, admin)).inviteUsersToOrganization.invites[0]
      .id as string;
    await ok(JOIN, { o: org.id, i: invite }, joiner);
    expect(await eventCount(org.id)).toBe(3);
    expect((await ok(REVOKE_INVITE, { o: org.id, i: invite }, admin)).revokeInvite).toEqual({
      __typename: "InviteAlreadyAcceptedError",
      code: "INVITE_ALREADY_ACCEPTED",
    });
    expect(await eventCount(org.id)).toBe(3);

    // An event written in a transaction that then fails is rolled back with it.
    await expect(
      inTransaction(a.db, async (tx) => {
        await recordAuditEvents(tx, org.id, { userId: admin.id, tokenId: null, subject: null }, [
          { action: "link.updated", targetId: link },
        ]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await eventCount(org.id)).toBe(3);
  });

  it("revoking twice writes one event (invite and link)", async () => {
    const admin = await a.seed.user("twice-admin");
    const org = await a.seed.org(admin, "Twice");
    const invite = (await ok(INVITE, { o: org.id, emails: [uniqueEmail("twice")] }, admin)).inviteUsersToOrganization
      .invites[0].id as string;
    const link = (await ok(CREATE_LINK, { o: org.id }, admin)).createLinkInvite.linkInvite.id as string;
    for (let i = 0; i < 2; i++) {
      expect((await ok(REVOKE_INVITE, { o: org.id, i: invite }, admin)).revokeInvite.__typename).toBe(
        "RevokeInviteSuccess",
      );
      expect((await ok(REVOKE_LINK, { o: org.id, i: link }, admin)).revokeLinkInvite.existed).toBe(true);
    }
    const actions = (await auditLog(org.id, admin)).edges.map((e) => e.node.action).sort();
    expect(actions).toEqual(["invite.created", "invite.revoked", "link.created", "link.revoked"]);
  });

  it("pages with first/after and counts every event; first > 1000 is BAD_USER_INPUT", async () => {
    const admin = await a.seed.user("paging-admin");
    const org = await a.seed.org(admin, "Paged");
    for (let i = 0; i < 12; i++) await ok(CREATE_LINK, { o: org.id }, admin);
    const all = await auditLog(org.id, admin);
    expect(all.totalCount).toBe(12);
    expect(all.edges).toHaveLength(12);
    expect(all.pageInfo.hasNextPage).toBe(false);

    const pages: EventNode[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await auditLog(org.id, admin, 5, after);
      expect(page.totalCount).toBe(12);
      pages.push(page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor as string;
    }
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(pages.flat().map((n) => n.id)).toEqual(all.edges.map((e) => e.node.id));

    const tooBig = await a.gql(AUDIT_LOG, { variables: { o: org.id, first: 1001 }, token: admin.token });
    expect(tooBig.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("is FORBIDDEN to members who are not admins and to non-members", async () => {
    const admin = await a.seed.user("forbid-admin");
    const org = await a.seed.org(admin, "Private log");
    await ok(CREATE_LINK, { o: org.id }, admin);
    const editor = await a.seed.user("editor");
    await a.seed.member(org.id, editor, "EDIT");
    const outsider = await a.seed.user("outsider");
    for (const [user, path] of [
      [editor, ["organization", "auditLog"]],
      [outsider, ["organization"]],
    ] as const) {
      const res = await a.gql(AUDIT_LOG, { variables: { o: org.id }, token: user.token });
      expect(res.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect(res.errors?.[0]?.path).toEqual(path);
    }
    const anonymous = await a.gql(AUDIT_LOG, { variables: { o: org.id } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});
