import { describe, expect, it } from "vitest";
import { type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $input: InviteUsersToOrganizationInput!) {
    inviteUsersToOrganization(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on InviteUsersToOrganizationSuccess { invites { id email role sso } }
    }
  }
`;

const REVOKE_INVITE = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    revokeInvite(organizationId: $o, inviteId: $i) { __typename ... on Error { code } }
  }
`;

const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $input: CreateLinkInviteInput!) {
    createLinkInvite(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on CreateLinkInviteSuccess { linkInvite { id kind role spaceId collectionId uses maxUses status } }
    }
  }
`;

const REVOKE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    revokeLinkInvite(organizationId: $o, inviteId: $i) { __typename ... on RevokeLinkInviteSuccess { existed } }
  }
`;

const JOIN = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
      __typename
      ... on Error { code message }
      ... on JoinOrganizationWithInviteSuccess {
        member { role sso joinedAt user { id } organization { id viewerRole } }
      }
    }
  }
`;

const INVITE_STATUS = /* GraphQL */ `
  query ($o: ID!) {
    organization(id: $o) { invites { edges { node { id status acceptedAt role } } } }
  }
`;

const LINK = /* GraphQL */ `
  query ($o: ID!, $i: ID!) {
    organization(id: $o) { linkInvite(id: $i) { id uses status } }
  }
`;

const PREVIEW = /* GraphQL */ `
  query ($o: ID!, $i: ID!) {
    linkInvitePreview(organizationId: $o, inviteId: $i) {
      organizationId organizationTitle kind role status expiresAt alreadyMember
    }
  }
`;

const PAST = () => new Date(Date.now() - 60_000);

describe.each(DB_KINDS)("joinOrganizationWithInvite (%s)", (kind) => {
  const app = useTestApp(kind);

  async function gqlOk(query: string, variables: Record<string, unknown>, token?: string) {
    const res = await app.current.gql(query, { variables, token: token ?? null });
    expect(res.errors).toBeUndefined();
    return res.data as Record<string, any>;
  }

  async function setup(): Promise<{ admin: TestUser; orgId: string }> {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin, "Join Co");
    return { admin, orgId: org.id };
  }

  async function emailInvite(admin: TestUser, orgId: string, email: string, role = "READ", sso = false) {
    const data = await gqlOk(INVITE, { o: orgId, input: { invitees: [{ email, role }], sso } }, admin.token);
    const invite = data.inviteUsersToOrganization.invites[0];
    expect(invite).toBeDefined();
    return invite as { id: string; sso: boolean };
  }

  async function link(admin: TestUser, orgId: string, input: Record<string, unknown>) {
    const data = await gqlOk(CREATE_LINK, { o: orgId, input }, admin.token);
    expect(data.createLinkInvite.__typename).toBe("CreateLinkInviteSuccess");
    return data.createLinkInvite.linkInvite as { id: string };
  }

  async function join(user: TestUser, orgId: string, inviteId: string) {
    const data = await gqlOk(JOIN, { o: orgId, i: inviteId }, user.token);
    return data.joinOrganizationWithInvite;
  }

  async function inviteState(admin: TestUser, orgId: string, inviteId: string) {
    const data = await gqlOk(INVITE_STATUS, { o: orgId }, admin.token);
    return data.organization.invites.edges.find((e: { node: { id: string } }) => e.node.id === inviteId)?.node;
  }

  async function linkUses(admin: TestUser, orgId: string, linkId: string): Promise<number> {
    const data = await gqlOk(LINK, { o: orgId, i: linkId }, admin.token);
    return data.organization.linkInvite.uses;
  }

  async function membership(orgId: string, user: TestUser) {
    return app.current.db.member.findUnique({
      where: { organizationId_userId: { organizationId: orgId, userId: user.id } },
    });
  }

  describe("with an email invite", () => {
    it("makes the invitee a member with the invite's role and sso; the invite becomes ACCEPTED", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const invite = await emailInvite(admin, orgId, bob.email, "EDIT", true);
      expect(invite.sso).toBe(true);
      const before = Date.now();

      const result = await join(bob, orgId, invite.id);

      expect(result.__typename).toBe("JoinOrganizationWithInviteSuccess");
      expect(result.member).toMatchObject({
        role: "EDIT",
        sso: true,
        user: { id: bob.id },
        organization: { id: orgId, viewerRole: "EDIT" },
      });
      expect(await membership(orgId, bob)).toMatchObject({ role: "EDIT", sso: true });
      const state = await inviteState(admin, orgId, invite.id);
      expect(state.status).toBe("ACCEPTED");
      expect(new Date(state.acceptedAt).getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(new Date(state.acceptedAt).getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it("matches the invitee's email case-insensitively and joins without sso by default", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("Bob");
      const invite = await emailInvite(admin, orgId, ` ${bob.email.toUpperCase()} `, "COMMENT");

      const result = await join(bob, orgId, invite.id);

      expect(result.__typename).toBe("JoinOrganizationWithInviteSuccess");
      expect(result.member).toMatchObject({ role: "COMMENT", sso: false });
    });

    it("returns INVITE_EMAIL_MISMATCH for another user and changes nothing", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const mallory = await app.current.seed.user("mallory");
      const invite = await emailInvite(admin, orgId, bob.email);

      const result = await join(mallory, orgId, invite.id);

      expect(result.__typename).toBe("InviteEmailMismatchError");
      expect(result.code).toBe("INVITE_EMAIL_MISMATCH");
      expect(await membership(orgId, mallory)).toBeNull();
      expect((await inviteState(admin, orgId, invite.id)).status).toBe("PENDING");
      // The rightful invitee can still use it.
      expect((await join(bob, orgId, invite.id)).__typename).toBe("JoinOrganizationWithInviteSuccess");
    });

    it("returns INVITE_ALREADY_ACCEPTED for an accepted invite (when no longer a member)", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const invite = await emailInvite(admin, orgId, bob.email, "EDIT");
      expect((await join(bob, orgId, invite.id)).__typename).toBe("JoinOrganizationWithInviteSuccess");
      await app.current.db.member.delete({
        where: { organizationId_userId: { organizationId: orgId, userId: bob.id } },
      });

      const result = await join(bob, orgId, invite.id);

      expect(result.__typename).toBe("InviteAlreadyAcceptedError");
      expect(result.code).toBe("INVITE_ALREADY_ACCEPTED");
      expect(await membership(orgId, bob)).toBeNull();
    });

    it("returns INVITE_REVOKED for a revoked invite", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const invite = await emailInvite(admin, orgId, bob.email);
      expect((await gqlOk(REVOKE_INVITE, { o: orgId, i: invite.id }, admin.token)).revokeInvite.__typename).toBe(
        "RevokeInviteSuccess",
      );

      const result = await join(bob, orgId, invite.id);

      expect(result.__typename).toBe("InviteRevokedError");
      expect(result.code).toBe("INVITE_REVOKED");
      expect(await membership(orgId, bob)).toBeNull();
      expect((await inviteState(admin, orgId, invite.id)).status).toBe("REVOKED");
    });

    it("returns INVITE_EXPIRED for an invite past its expiry", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const invite = await emailInvite(admin, orgId, bob.email);
      await app.current.db.invite.update({ where: { id: invite.id }, data: { expiresAt: PAST() } });

      const result = await join(bob, orgId, invite.id);

      expect(result.__typename).toBe("InviteExpiredError");
      expect(result.code).toBe("INVITE_EXPIRED");
      expect(await membership(orgId, bob)).toBeNull();
      expect((await inviteState(admin, orgId, invite.id)).status).toBe("EXPIRED");
    });

    it("returns NOT_FOUND for an unknown id", async () => {
      const { orgId } = await setup();
      const bob = await app.current.seed.user("bob");

      const result = await join(bob, orgId, "AAAAAAAAAAAAAAAAAAAAAA");

      expect(result.__typename).toBe("NotFoundError");
      expect(result.code).toBe("NOT_FOUND");
      expect(await membership(orgId, bob)).toBeNull();
    });

    // Found by test/e2e/fuzz.test.ts: these ids reached PostgreSQL and crashed ("Unexpected error.").
    it.each([
      ["an inviteId with NUL", (orgId: string) => ({ o: orgId, i: "AAAA\u0000" })],
      ["an inviteId with a lone surrogate", (orgId: string) => ({ o: orgId, i: "é\udfff" })],
      ["an organizationId with NUL", () => ({ o: "org\u0000", i: "AAAAAAAAAAAAAAAAAAAAAA" })],
    ])("answers %s with VALIDATION", async (_label, variables) => {
      const { orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const { o, i } = variables(orgId);

      const result = await join(bob, o, i);

      expect(result).toMatchObject({ __typename: "ValidationError", code: "VALIDATION" });
      expect(await membership(orgId, bob)).toBeNull();
    });

    it("returns NOT_FOUND for an invite of another organization and changes nothing", async () => {
      const { orgId } = await setup();
      const { admin: otherAdmin, orgId: otherId } = await setup();
      const bob = await app.current.seed.user("bob");
      const invite = await emailInvite(otherAdmin, otherId, bob.email);

      const result = await join(bob, orgId, invite.id);

      expect(result.__typename).toBe("NotFoundError");
      expect(result.code).toBe("NOT_FOUND");
      expect(await membership(orgId, bob)).toBeNull();
      expect(await membership(otherId, bob)).toBeNull();
      expect((await inviteState(otherAdmin, otherId, invite.id)).status).toBe("PENDING");
    });

    it("returns ALREADY_MEMBER for a member, before the invite's own state, and changes nothing", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      const pending = await emailInvite(admin, orgId, bob.email, "ADMIN");
      await app.current.seed.member(orgId, bob, "READ");

      const result = await join(bob, orgId, pending.id);

      expect(result.__typename).toBe("AlreadyMemberError");
      expect(result.code).toBe("ALREADY_MEMBER");
      expect(await membership(orgId, bob)).toMatchObject({ role: "READ" });
      expect(await inviteState(admin, orgId, pending.id)).toMatchObject({ status: "PENDING", acceptedAt: null });

      // Checked first: a revoked invite still answers ALREADY_MEMBER.
      await gqlOk(REVOKE_INVITE, { o: orgId, i: pending.id }, admin.token);
      const revoked = await join(bob, orgId, pending.id);
      expect(revoked.code).toBe("ALREADY_MEMBER");
      expect(await membership(orgId, bob)).toMatchObject({ role: "READ" });
    });
  });

  describe("with a link", () => {
    it("makes any signed-in user a member with the link's role and counts the use", async () => {
      const { admin, orgId } = await setup();
      const carol = await app.current.seed.user("carol");
      const { id } = await link(admin, orgId, { role: "COMMENT" });

      const result = await join(carol, orgId, id);

      expect(result.__typename).toBe("JoinOrganizationWithInviteSuccess");
      expect(result.member).toMatchObject({
        role: "COMMENT",
        sso: false,
        user: { id: carol.id },
        organization: { id: orgId, viewerRole: "COMMENT" },
      });
      expect(await membership(orgId, carol)).toMatchObject({ role: "COMMENT" });
      expect(await linkUses(admin, orgId, id)).toBe(1);
      expect(await app.current.db.memberGrant.count({ where: { organizationId: orgId, userId: carol.id } })).toBe(0);
    });

    it.each([
      ["SPACE", { kind: "SPACE", spaceId: "space-42", role: "EDIT" }, "space-42", "EDIT"],
      ["COLLECTION", { kind: "COLLECTION", collectionId: "coll-7", role: "REVIEW" }, "coll-7", "REVIEW"],
    ] as const)("a %s link makes a GUEST with a grant on the target", async (targetKind, input, targetId, level) => {
      const { admin, orgId } = await setup();
      const dave = await app.current.seed.user("dave");
      const { id } = await link(admin, orgId, input);

      const result = await join(dave, orgId, id);

      expect(result.__typename).toBe("JoinOrganizationWithInviteSuccess");
      expect(result.member).toMatchObject({ role: "GUEST", sso: false, user: { id: dave.id } });
      expect(await membership(orgId, dave)).toMatchObject({ role: "GUEST" });
      const grants = await app.current.db.memberGrant.findMany({ where: { organizationId: orgId, userId: dave.id } });
      expect(grants.map((g) => ({ kind: g.kind, targetId: g.targetId, role: g.role }))).toEqual([
        { kind: targetKind, targetId, role: level },
      ]);
      expect(await linkUses(admin, orgId, id)).toBe(1);
    });

    it("returns INVITE_REVOKED for a revoked link", async () => {
      const { admin, orgId } = await setup();
      const carol = await app.current.seed.user("carol");
      const { id } = await link(admin, orgId, { role: "READ" });
      await gqlOk(REVOKE_LINK, { o: orgId, i: id }, admin.token);

      const result = await join(carol, orgId, id);

      expect(result.__typename).toBe("InviteRevokedError");
      expect(result.code).toBe("INVITE_REVOKED");
      expect(await membership(orgId, carol)).toBeNull();
      expect(await linkUses(admin, orgId, id)).toBe(0);
    });

    it("returns INVITE_EXPIRED for a link past its expiry", async () => {
      const { admin, orgId } = await setup();
      const carol = await app.current.seed.user("carol");
      const { id } = await link(admin, orgId, {
        role: "READ",
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      await app.current.db.linkInvite.update({ where: { id }, data: { expiresAt: PAST() } });

      const result = await join(carol, orgId, id);

      expect(result.__typename).toBe("InviteExpiredError");
      expect(result.code).toBe("INVITE_EXPIRED");
      expect(await membership(orgId, carol)).toBeNull();
      expect(await linkUses(admin, orgId, id)).toBe(0);
    });

    it("returns INVITE_USED_UP once maxUses users have joined", async () => {
      const { admin, orgId } = await setup();
      const { id } = await link(admin, orgId, { role: "READ", maxUses: 2 });
      const first = await app.current.seed.user("first");
      const second = await app.current.seed.user("second");
      const third = await app.current.seed.user("third");

      expect((await join(first, orgId, id)).__typename).toBe("JoinOrganizationWithInviteSuccess");
      expect((await join(second, orgId, id)).__typename).toBe("JoinOrganizationWithInviteSuccess");
      const result = await join(third, orgId, id);

      expect(result.__typename).toBe("InviteUsedUpError");
      expect(result.code).toBe("INVITE_USED_UP");
      expect(await membership(orgId, third)).toBeNull();
      expect(await linkUses(admin, orgId, id)).toBe(2);
    });

    it("returns ALREADY_MEMBER for a member without counting a use, and counts only real joins", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      await app.current.seed.member(orgId, bob, "READ");
      const { id } = await link(admin, orgId, { role: "EDIT", maxUses: 1 });

      const again = await join(bob, orgId, id);
      expect(again.__typename).toBe("AlreadyMemberError");
      expect(again.code).toBe("ALREADY_MEMBER");
      expect(await membership(orgId, bob)).toMatchObject({ role: "READ" });
      const adminAgain = await join(admin, orgId, id);
      expect(adminAgain.code).toBe("ALREADY_MEMBER");
      expect(await linkUses(admin, orgId, id)).toBe(0);

      // The single use is still there for a newcomer.
      const newcomer = await app.current.seed.user("newcomer");
      expect((await join(newcomer, orgId, id)).__typename).toBe("JoinOrganizationWithInviteSuccess");
      expect(await linkUses(admin, orgId, id)).toBe(1);
      expect((await join(newcomer, orgId, id)).code).toBe("ALREADY_MEMBER");
      expect(await linkUses(admin, orgId, id)).toBe(1);
    });

    it("returns ALREADY_MEMBER (checked first) even for a revoked link", async () => {
      const { admin, orgId } = await setup();
      const bob = await app.current.seed.user("bob");
      await app.current.seed.member(orgId, bob, "READ");
      const { id } = await link(admin, orgId, { role: "EDIT" });
      await gqlOk(REVOKE_LINK, { o: orgId, i: id }, admin.token);

      const result = await join(bob, orgId, id);

      expect(result.code).toBe("ALREADY_MEMBER");
    });

    it("returns NOT_FOUND for a link of another organization and counts no use", async () => {
      const { orgId } = await setup();
      const { admin: otherAdmin, orgId: otherId } = await setup();
      const carol = await app.current.seed.user("carol");
      const { id } = await link(otherAdmin, otherId, { role: "READ" });

      const result = await join(carol, orgId, id);

      expect(result.__typename).toBe("NotFoundError");
      expect(result.code).toBe("NOT_FOUND");
      expect(await membership(orgId, carol)).toBeNull();
      expect(await membership(otherId, carol)).toBeNull();
      expect(await linkUses(otherAdmin, otherId, id)).toBe(0);
    });

    it("refuses an anonymous caller with UNAUTHENTICATED", async () => {
      const { admin, orgId } = await setup();
      const { id } = await link(admin, orgId, { role: "READ" });

      const res = await app.current.gql(JOIN, { variables: { o: orgId, i: id } });

      expect(res.data?.joinOrganizationWithInvite ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect(await linkUses(admin, orgId, id)).toBe(0);
    });
  });

  describe("linkInvitePreview", () => {
    it("shows a link to anyone, anonymous included; alreadyMember tells members apart", async () => {
      const { admin, orgId } = await setup();
      const expiresAt = new Date(Date.now() + 2 * 86_400_000).toISOString();
      const { id } = await link(admin, orgId, { role: "EDIT", expiresAt });
      const expected = {
        organizationId: orgId,
        organizationTitle: "Join Co",
        kind: "ORGANIZATION",
        role: "EDIT",
        status: "ACTIVE",
        expiresAt,
      };

      const anonymous = await gqlOk(PREVIEW, { o: orgId, i: id });
      expect(anonymous.linkInvitePreview).toEqual({ ...expected, alreadyMember: false });

      const stranger = await app.current.seed.user("stranger");
      const asStranger = await gqlOk(PREVIEW, { o: orgId, i: id }, stranger.token);
      expect(asStranger.linkInvitePreview).toEqual({ ...expected, alreadyMember: false });

      const asAdmin = await gqlOk(PREVIEW, { o: orgId, i: id }, admin.token);
      expect(asAdmin.linkInvitePreview).toEqual({ ...expected, alreadyMember: true });
    });

    it("shows the kind and level of a SPACE link", async () => {
      const { admin, orgId } = await setup();
      const { id } = await link(admin, orgId, { kind: "SPACE", spaceId: "space-1", role: "COMMENT" });

      const data = await gqlOk(PREVIEW, { o: orgId, i: id });

      expect(data.linkInvitePreview).toMatchObject({
        kind: "SPACE",
        role: "COMMENT",
        status: "ACTIVE",
        expiresAt: null,
      });
    });

    it("is null for an unknown id, another organization's link, or an email invite's id", async () => {
      const { admin, orgId } = await setup();
      const { admin: otherAdmin, orgId: otherId } = await setup();
      const theirs = await link(otherAdmin, otherId, { role: "READ" });
      const emailOnly = await emailInvite(admin, orgId, uniqueEmail("emailed"));

      expect((await gqlOk(PREVIEW, { o: orgId, i: "AAAAAAAAAAAAAAAAAAAAAA" })).linkInvitePreview).toBeNull();
      expect((await gqlOk(PREVIEW, { o: orgId, i: theirs.id })).linkInvitePreview).toBeNull();
      expect((await gqlOk(PREVIEW, { o: orgId, i: emailOnly.id })).linkInvitePreview).toBeNull();
      expect((await gqlOk(PREVIEW, { o: otherId, i: theirs.id }, admin.token)).linkInvitePreview).toMatchObject({
        organizationId: otherId,
        alreadyMember: false,
      });
    });

    it("shows REVOKED, EXPIRED and USED_UP links with their status", async () => {
      const { admin, orgId } = await setup();
      const revoked = await link(admin, orgId, { role: "READ" });
      await gqlOk(REVOKE_LINK, { o: orgId, i: revoked.id }, admin.token);
      const expired = await link(admin, orgId, { role: "READ" });
      await app.current.db.linkInvite.update({ where: { id: expired.id }, data: { expiresAt: PAST() } });
      const usedUp = await link(admin, orgId, { role: "READ", maxUses: 1 });
      expect((await join(await app.current.seed.user("only"), orgId, usedUp.id)).__typename).toBe(
        "JoinOrganizationWithInviteSuccess",
      );

      const status = async (id: string) => (await gqlOk(PREVIEW, { o: orgId, i: id })).linkInvitePreview.status;
      expect(await status(revoked.id)).toBe("REVOKED");
      expect(await status(expired.id)).toBe("EXPIRED");
      expect(await status(usedUp.id)).toBe("USED_UP");
    });
  });
});
