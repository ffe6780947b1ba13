import { describe, expect, it } from "vitest";
import { type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $input: InviteUsersToOrganizationInput!) {
    inviteUsersToOrganization(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on InviteUsersToOrganizationSuccess {
        invited
        alreadyMembers
        failedSSOEmails
        users { id email }
        invites {
          id email role sso status createdAt expiresAt acceptedAt
          organization { id }
          user { id email }
          invitedBy { id }
        }
      }
    }
  }
`;

const REVOKE = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    revokeInvite(organizationId: $o, inviteId: $i) {
      __typename
      ... on Error { code message }
      ... on RevokeInviteSuccess { invite { id email role status acceptedAt } }
    }
  }
`;

const JOIN = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
      __typename
      ... on Error { code message }
      ... on JoinOrganizationWithInviteSuccess { member { role sso } }
    }
  }
`;

const ORG_INVITES = /* GraphQL */ `
  query ($o: ID!, $status: InviteStatus) {
    organization(id: $o) {
      invites(status: $status) { totalCount edges { node { id email role status } } }
    }
  }
`;

const PENDING_INVITES = /* GraphQL */ `
  { viewer { pendingInvites { id email role status organization { id } } } }
`;

const DAY_MS = 86_400_000;

/** Small wrappers over the documents above, bound to one test app. */
function api(app: { current: TestApp }) {
  return {
    async invite(token: string, organizationId: string, input: Record<string, unknown>) {
      const res = await app.current.gql(INVITE, { variables: { o: organizationId, input }, token });
      expect(res.errors).toBeUndefined();
      return res.data?.inviteUsersToOrganization;
    },
    async revoke(token: string, organizationId: string, inviteId: string) {
      const res = await app.current.gql(REVOKE, { variables: { o: organizationId, i: inviteId }, token });
      expect(res.errors).toBeUndefined();
      return res.data?.revokeInvite;
    },
    async join(token: string, organizationId: string, inviteId: string) {
      const res = await app.current.gql(JOIN, { variables: { o: organizationId, i: inviteId }, token });
      expect(res.errors).toBeUndefined();
      return res.data?.joinOrganizationWithInvite;
    },
    async orgInvites(token: string, organizationId: string, status?: string) {
      const res = await app.current.gql(ORG_INVITES, { variables: { o: organizationId, status }, token });
      expect(res.errors).toBeUndefined();
      return res.data?.organization.invites as {
        totalCount: number;
        edges: Array<{ node: { id: string; email: string; role: string; status: string } }>;
      };
    },
    async pendingInvites(token: string) {
      const res = await app.current.gql(PENDING_INVITES, { token });
      expect(res.errors).toBeUndefined();
      return res.data?.viewer.pendingInvites as Array<{
        id: string;
        email: string;
        status: string;
        organization: { id: string };
      }>;
    },
    async rowCounts() {
      const { db } = app.current;
      return { invites: await db.invite.count(), users: await db.user.count(), members: await db.member.count() };
    },
  };
}

describe.each(DB_KINDS)("inviteUsersToOrganization (%s)", (kind) => {
  const app = useTestApp(kind);
  const { invite, revoke, join, orgInvites, pendingInvites, rowCounts } = api(app);

  async function adminAndOrg(): Promise<{ admin: TestUser; orgId: string }> {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    return { admin, orgId: org.id };
  }

  it("creates a PENDING invite with a trimmed, lower-cased email and the default role READ", async () => {
    const { admin, orgId } = await adminAndOrg();
    const email = uniqueEmail("Mixed.Case");
    const before = Date.now();

    const result = await invite(admin.token, orgId, { emails: [`  ${email.toUpperCase()}  `] });

    expect(result.__typename).toBe("InviteUsersToOrganizationSuccess");
    const lower = email.toLowerCase();
    expect(result.invited).toBe(1);
    expect(result.alreadyMembers).toEqual([]);
    expect(result.failedSSOEmails).toEqual([]);
    expect(result.invites).toHaveLength(1);
    const [created] = result.invites;
    expect(created).toMatchObject({
      email: lower,
      role: "READ",
      sso: false,
      status: "PENDING",
      acceptedAt: null,
      organization: { id: orgId },
      invitedBy: { id: admin.id },
      user: { email: lower },
    });
    expect(created.id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    // Default INVITE_TTL: 7 days from now.
    const expiresAt = new Date(created.expiresAt).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 7 * DAY_MS - 5_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 7 * DAY_MS + 5_000);
    expect(result.users).toEqual([{ id: created.user.id, email: lower }]);

    const stored = await app.current.db.invite.findUniqueOrThrow({ where: { id: created.id } });
    expect(stored).toMatchObject({ organizationId: orgId, email: lower, role: "READ", status: "PENDING" });
  });

  it("collapses duplicates across emails and invitees; an invitee's own role wins", async () => {
    const { admin, orgId } = await adminAndOrg();
    const a = uniqueEmail("dup-a");
    const b = uniqueEmail("dup-b");

    const result = await invite(admin.token, orgId, {
      emails: [a, ` ${a.toUpperCase()} `, b, b],
      invitees: [
        { email: a.toUpperCase(), role: "EDIT" },
        { email: ` ${a} `, role: "EDIT" },
      ],
      role: "COMMENT",
    });

    expect(result.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(result.invited).toBe(2);
    const roles = Object.fromEntries(result.invites.map((i: { email: string; role: string }) => [i.email, i.role]));
    expect(roles).toEqual({ [a]: "EDIT", [b]: "COMMENT" });
    expect(result.users.map((u: { email: string }) => u.email).sort()).toEqual([a, b].sort());
    expect(await app.current.db.invite.count({ where: { organizationId: orgId } })).toBe(2);
  });

  it("accepts 100 distinct emails (a 101st that is a duplicate collapses)", async () => {
    const { admin, orgId } = await adminAndOrg();
    const emails = Array.from({ length: 100 }, () => uniqueEmail("bulk"));

    const result = await invite(admin.token, orgId, { emails: [...emails, (emails[0] as string).toUpperCase()] });

    expect(result.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(result.invited).toBe(100);
    expect(result.invites).toHaveLength(100);
    expect(result.users).toHaveLength(100);
    expect(await app.current.db.invite.count({ where: { organizationId: orgId } })).toBe(100);
  });

  it.each([
    ["no emails at all", {}],
    ["empty lists", { emails: [], invitees: [] }],
    [
      "101 distinct emails",
      { emails: Array.from({ length: 101 }, (_, n) => `bulk-101-${n}-${Date.now()}@example.com`) },
    ],
  ])("rejects %s with VALIDATION and writes nothing", async (_label, input) => {
    const { admin, orgId } = await adminAndOrg();
    const before = await rowCounts();

    const result = await invite(admin.token, orgId, input);

    expect(result.__typename).toBe("ValidationError");
    expect(result.code).toBe("VALIDATION");
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    ["in emails", (ok: string[]) => ({ emails: [ok[0], "not-an-email", ok[1]] })],
    [
      "in invitees",
      (ok: string[]) => ({
        emails: [ok[0]],
        invitees: [
          { email: ok[1], role: "READ" },
          { email: "bob@", role: "EDIT" },
        ],
      }),
    ],
  ])("fails the whole call with VALIDATION for one invalid email %s, writing nothing", async (_label, build) => {
    const { admin, orgId } = await adminAndOrg();
    const ok = [uniqueEmail("valid"), uniqueEmail("valid")];
    const input = build(ok);
    const before = await rowCounts();

    const result = await invite(admin.token, orgId, input);

    expect(result.__typename).toBe("ValidationError");
    expect(result.code).toBe("VALIDATION");
    expect(await rowCounts()).toEqual(before);
    expect(await app.current.db.user.count({ where: { email: { in: ok } } })).toBe(0);
  });

  it("lists a member's email in alreadyMembers and sends it no invite", async () => {
    const { admin, orgId } = await adminAndOrg();
    const bob = await app.current.seed.user("bob");
    await app.current.seed.member(orgId, bob, "READ");
    const fresh = uniqueEmail("fresh");

    const result = await invite(admin.token, orgId, { emails: [bob.email.toUpperCase(), fresh, admin.email] });

    expect(result.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect([...result.alreadyMembers].sort()).toEqual([bob.email, admin.email].sort());
    expect(result.invited).toBe(1);
    expect(result.invites.map((i: { email: string }) => i.email)).toEqual([fresh]);
    expect(result.users.map((u: { email: string }) => u.email)).toEqual([fresh]);
    expect(await app.current.db.invite.count({ where: { organizationId: orgId, email: bob.email } })).toBe(0);

    // A call with members only succeeds and invites nobody.
    const onlyMembers = await invite(admin.token, orgId, { emails: [bob.email] });
    expect(onlyMembers).toMatchObject({
      __typename: "InviteUsersToOrganizationSuccess",
      invited: 0,
      invites: [],
      users: [],
      alreadyMembers: [bob.email],
    });
    expect(await app.current.db.invite.count({ where: { organizationId: orgId } })).toBe(1);
  });

  it("refreshes a pending invite (same id, new role, new expiry) instead of adding one", async () => {
    const { admin, orgId } = await adminAndOrg();
    const email = uniqueEmail("again");
    const first = await invite(admin.token, orgId, { emails: [email], role: "READ" });
    const original = first.invites[0];
    // Pull the expiry in so that a refresh visibly moves it.
    const soon = new Date(Date.now() + 60 * 60_000);
    await app.current.db.invite.update({ where: { id: original.id }, data: { expiresAt: soon } });

    const second = await invite(admin.token, orgId, { invitees: [{ email: email.toUpperCase(), role: "EDIT" }] });

    expect(second.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(second.invited).toBe(1);
    expect(second.invites).toHaveLength(1);
    const refreshed = second.invites[0];
    expect(refreshed.id).toBe(original.id);
    expect(refreshed.role).toBe("EDIT");
    expect(refreshed.status).toBe("PENDING");
    expect(new Date(refreshed.expiresAt).getTime()).toBeGreaterThan(soon.getTime() + 6 * DAY_MS);
    expect(second.users).toEqual([original.user]);
    expect(await app.current.db.invite.count({ where: { organizationId: orgId, email } })).toBe(1);
    const listed = await orgInvites(admin.token, orgId);
    expect(listed.totalCount).toBe(1);
    expect(listed.edges[0]?.node).toMatchObject({ id: original.id, role: "EDIT", status: "PENDING" });
  });

  it("counts created and refreshed invites in `invited` and returns the user of each", async () => {
    const { admin, orgId } = await adminAndOrg();
    const a = uniqueEmail("a");
    const b = uniqueEmail("b");
    const first = await invite(admin.token, orgId, { emails: [a] });

    const second = await invite(admin.token, orgId, { emails: [a, b] });

    expect(second.invited).toBe(2);
    expect(second.invites).toHaveLength(2);
    const ids = Object.fromEntries(second.invites.map((i: { email: string; id: string }) => [i.email, i.id]));
    expect(ids[a]).toBe(first.invites[0].id);
    expect(ids[b]).not.toBe(first.invites[0].id);
    const users = await app.current.db.user.findMany({ where: { email: { in: [a, b] } } });
    expect(second.users.map((u: { id: string }) => u.id).sort()).toEqual(users.map((u) => u.id).sort());
  });

  it("creates an (unverified) user record for an unknown email and reuses a known user", async () => {
    const { admin, orgId } = await adminAndOrg();
    const unknown = uniqueEmail("stranger");
    const known = await app.current.seed.user("known");
    expect(await app.current.db.user.findUnique({ where: { email: unknown } })).toBeNull();
    const usersBefore = await app.current.db.user.count();

    const result = await invite(admin.token, orgId, { emails: [unknown, known.email] });

    expect(result.invited).toBe(2);
    const created = await app.current.db.user.findUniqueOrThrow({ where: { email: unknown } });
    expect(created.emailVerified).toBe(false);
    expect(await app.current.db.user.count()).toBe(usersBefore + 1);
    const byEmail = Object.fromEntries(result.users.map((u: { email: string; id: string }) => [u.email, u.id]));
    expect(byEmail).toEqual({ [unknown]: created.id, [known.email]: known.id });
    const inviteUser = Object.fromEntries(
      result.invites.map((i: { email: string; user: { id: string } }) => [i.email, i.user.id]),
    );
    expect(inviteUser).toEqual({ [unknown]: created.id, [known.email]: known.id });
  });

  it("with sso: true, invites an SSO member of another organization without SSO and reports it", async () => {
    const { admin, orgId } = await adminAndOrg();
    const elsewhere = await app.current.seed.org(await app.current.seed.user("other-admin"));
    const ssoElsewhere = await app.current.seed.user("sso-elsewhere");
    await app.current.seed.member(elsewhere.id, ssoElsewhere, "READ", true);
    const plainElsewhere = await app.current.seed.user("plain-elsewhere");
    await app.current.seed.member(elsewhere.id, plainElsewhere, "READ", false);
    const fresh = uniqueEmail("fresh");

    const result = await invite(admin.token, orgId, {
      emails: [ssoElsewhere.email, plainElsewhere.email, fresh],
      sso: true,
    });

    expect(result.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(result.invited).toBe(3);
    expect(result.failedSSOEmails).toEqual([ssoElsewhere.email]);
    const sso = Object.fromEntries(result.invites.map((i: { email: string; sso: boolean }) => [i.email, i.sso]));
    expect(sso).toEqual({ [ssoElsewhere.email]: false, [plainElsewhere.email]: true, [fresh]: true });
  });

  it("without sso, reports no failedSSOEmails and invites without SSO", async () => {
    const { admin, orgId } = await adminAndOrg();
    const elsewhere = await app.current.seed.org(await app.current.seed.user("other-admin"));
    const ssoElsewhere = await app.current.seed.user("sso-elsewhere");
    await app.current.seed.member(elsewhere.id, ssoElsewhere, "READ", true);

    const result = await invite(admin.token, orgId, { emails: [ssoElsewhere.email] });

    expect(result.failedSSOEmails).toEqual([]);
    expect(result.invites[0].sso).toBe(false);
  });

  it("shows the invitee its pending invites, newest first, and hides them from other users", async () => {
    const { admin, orgId } = await adminAndOrg();
    const other = await app.current.seed.org(admin);
    const invitee = await app.current.seed.user("invitee");
    const first = await invite(admin.token, orgId, { emails: [invitee.email], role: "EDIT" });
    const second = await invite(admin.token, other.id, { emails: [invitee.email] });

    const mine = await pendingInvites(invitee.token);
    expect(mine.map((i) => i.id)).toEqual([second.invites[0].id, first.invites[0].id]);
    expect(mine[1]).toMatchObject({
      email: invitee.email,
      role: "EDIT",
      status: "PENDING",
      organization: { id: orgId },
    });

    expect(await pendingInvites(admin.token)).toEqual([]);
    // Reaching another user's pendingInvites (through an invite) is FORBIDDEN.
    const peek = await app.current.gql(
      `query ($o: ID!) { organization(id: $o) { invites { edges { node { user { pendingInvites { id } } } } } } }`,
      { variables: { o: orgId }, token: admin.token },
    );
    expect(peek.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("reads a PENDING invite past expiresAt as EXPIRED everywhere, filters included", async () => {
    const { admin, orgId } = await adminAndOrg();
    const invitee = await app.current.seed.user("late");
    const other = uniqueEmail("still-pending");
    const result = await invite(admin.token, orgId, { emails: [invitee.email, other] });
    const byEmail = Object.fromEntries(result.invites.map((i: { email: string; id: string }) => [i.email, i.id]));
    const expiredId = byEmail[invitee.email] as string;
    const pendingId = byEmail[other] as string;
    expect((await pendingInvites(invitee.token)).map((i) => i.id)).toEqual([expiredId]);
    expect((await orgInvites(admin.token, orgId, "PENDING")).totalCount).toBe(2);

    await app.current.db.invite.update({
      where: { id: expiredId },
      data: { expiresAt: new Date(Date.now() - 60_000) },
    });

    const all = await orgInvites(admin.token, orgId);
    expect(all.totalCount).toBe(2);
    const statuses = Object.fromEntries(all.edges.map((e) => [e.node.id, e.node.status]));
    expect(statuses).toEqual({ [expiredId]: "EXPIRED", [pendingId]: "PENDING" });

    const expired = await orgInvites(admin.token, orgId, "EXPIRED");
    expect(expired.totalCount).toBe(1);
    expect(expired.edges.map((e) => [e.node.id, e.node.status])).toEqual([[expiredId, "EXPIRED"]]);

    const pending = await orgInvites(admin.token, orgId, "PENDING");
    expect(pending.totalCount).toBe(1);
    expect(pending.edges.map((e) => [e.node.id, e.node.status])).toEqual([[pendingId, "PENDING"]]);

    expect(await pendingInvites(invitee.token)).toEqual([]);

    const joined = await join(invitee.token, orgId, expiredId);
    expect(joined.__typename).toBe("InviteExpiredError");
    expect(joined.code).toBe("INVITE_EXPIRED");
    expect(await app.current.db.member.count({ where: { organizationId: orgId, userId: invitee.id } })).toBe(0);
  });

  it("re-inviting an expired invite makes it PENDING again (one invite per email)", async () => {
    const { admin, orgId } = await adminAndOrg();
    const email = uniqueEmail("renew");
    const first = await invite(admin.token, orgId, { emails: [email] });
    const id = first.invites[0].id;
    await app.current.db.invite.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 60_000) } });

    const again = await invite(admin.token, orgId, { emails: [email] });

    expect(again.invited).toBe(1);
    expect(again.invites[0]).toMatchObject({ id, status: "PENDING" });
    expect(await app.current.db.invite.count({ where: { organizationId: orgId, email } })).toBe(1);
  });

  it("re-inviting after a revoke creates a new invite; the revoked one stays", async () => {
    const { admin, orgId } = await adminAndOrg();
    const email = uniqueEmail("second-chance");
    const first = await invite(admin.token, orgId, { emails: [email] });
    await revoke(admin.token, orgId, first.invites[0].id);

    const again = await invite(admin.token, orgId, { emails: [email] });

    expect(again.invited).toBe(1);
    expect(again.invites[0].id).not.toBe(first.invites[0].id);
    expect(again.invites[0].status).toBe("PENDING");
    const listed = await orgInvites(admin.token, orgId);
    expect(listed.edges.map((e) => [e.node.id, e.node.status])).toEqual([
      [again.invites[0].id, "PENDING"],
      [first.invites[0].id, "REVOKED"],
    ]);
  });

  it("lists invites newest first and holds every status", async () => {
    const { admin, orgId } = await adminAndOrg();
    const ids: string[] = [];
    for (const prefix of ["first", "second", "third"]) {
      const result = await invite(admin.token, orgId, { emails: [uniqueEmail(prefix)] });
      ids.push(result.invites[0].id);
    }
    await revoke(admin.token, orgId, ids[1] as string);

    const listed = await orgInvites(admin.token, orgId);

    expect(listed.totalCount).toBe(3);
    expect(listed.edges.map((e) => e.node.id)).toEqual([...ids].reverse());
    expect(listed.edges.map((e) => e.node.status)).toEqual(["PENDING", "REVOKED", "PENDING"]);
    const revoked = await orgInvites(admin.token, orgId, "REVOKED");
    expect(revoked.totalCount).toBe(1);
    expect(revoked.edges.map((e) => e.node.id)).toEqual([ids[1]]);
  });

  it("is for admins only: FORBIDDEN for a non-admin member, UNAUTHENTICATED when anonymous", async () => {
    const { orgId } = await adminAndOrg();
    const editor = await app.current.seed.user("editor");
    await app.current.seed.member(orgId, editor, "EDIT");
    const before = await rowCounts();
    const variables = { o: orgId, input: { emails: [uniqueEmail("x")] } };

    const asEditor = await app.current.gql(INVITE, { variables, token: editor.token });
    expect(asEditor.data?.inviteUsersToOrganization ?? null).toBeNull();
    expect(asEditor.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");

    const anonymous = await app.current.gql(INVITE, { variables });
    expect(anonymous.data?.inviteUsersToOrganization ?? null).toBeNull();
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");

    expect(await rowCounts()).toEqual(before);
  });
});

describe.each(DB_KINDS)("revokeInvite (%s)", (kind) => {
  const app = useTestApp(kind);
  const { invite, revoke, join, orgInvites, pendingInvites } = api(app);

  it("revokes a pending invite, which stays readable with status REVOKED", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const invitee = await app.current.seed.user("invitee");
    const sent = await invite(admin.token, org.id, { emails: [invitee.email], role: "REVIEW" });
    const id = sent.invites[0].id;

    const result = await revoke(admin.token, org.id, id);

    expect(result.__typename).toBe("RevokeInviteSuccess");
    expect(result.invite).toEqual({ id, email: invitee.email, role: "REVIEW", status: "REVOKED", acceptedAt: null });
    const listed = await orgInvites(admin.token, org.id);
    expect(listed.edges.map((e) => [e.node.id, e.node.status])).toEqual([[id, "REVOKED"]]);
    expect((await orgInvites(admin.token, org.id, "PENDING")).totalCount).toBe(0);
    expect(await pendingInvites(invitee.token)).toEqual([]);
    const joined = await join(invitee.token, org.id, id);
    expect(joined.code).toBe("INVITE_REVOKED");

    // Revoking twice is harmless.
    const again = await revoke(admin.token, org.id, id);
    expect(again.__typename).toBe("RevokeInviteSuccess");
    expect(again.invite.status).toBe("REVOKED");
    expect(await app.current.db.invite.count({ where: { organizationId: org.id } })).toBe(1);
  });

  it("returns NOT_FOUND for an unknown id", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);

    const result = await revoke(admin.token, org.id, "no-such-invite-0000000000");

    expect(result.__typename).toBe("NotFoundError");
    expect(result.code).toBe("NOT_FOUND");
  });

  it("returns NOT_FOUND for an invite of another organization and leaves it alone", async () => {
    const admin = await app.current.seed.user("admin");
    const mine = await app.current.seed.org(admin);
    const theirs = await app.current.seed.org(await app.current.seed.user("other-admin"));
    const sent = await invite(theirs.owner.token, theirs.id, { emails: [uniqueEmail("theirs")] });
    const id = sent.invites[0].id;

    const result = await revoke(admin.token, mine.id, id);

    expect(result.__typename).toBe("NotFoundError");
    expect(result.code).toBe("NOT_FOUND");
    const stored = await app.current.db.invite.findUniqueOrThrow({ where: { id } });
    expect(stored.status).toBe("PENDING");
    expect(stored.revokedAt).toBeNull();
  });

  it("returns INVITE_ALREADY_ACCEPTED for an accepted invite, which stays ACCEPTED", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const invitee = await app.current.seed.user("invitee");
    const sent = await invite(admin.token, org.id, { emails: [invitee.email] });
    const id = sent.invites[0].id;
    expect((await join(invitee.token, org.id, id)).__typename).toBe("JoinOrganizationWithInviteSuccess");

    const result = await revoke(admin.token, org.id, id);

    expect(result.__typename).toBe("InviteAlreadyAcceptedError");
    expect(result.code).toBe("INVITE_ALREADY_ACCEPTED");
    const listed = await orgInvites(admin.token, org.id);
    expect(listed.edges.map((e) => [e.node.id, e.node.status])).toEqual([[id, "ACCEPTED"]]);
    expect(await app.current.db.member.count({ where: { organizationId: org.id, userId: invitee.id } })).toBe(1);
  });

  // Found by test/e2e/fuzz.test.ts: these ids reached PostgreSQL and crashed ("Unexpected error.").
  it.each([
    ["NUL", "AAAA\u0000"],
    ["a lone surrogate after a non-ASCII character", "\u3000\udfff"],
  ])("answers an id with %s with VALIDATION", async (_label, id) => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);

    const result = await revoke(admin.token, org.id, id);

    expect(result).toMatchObject({ __typename: "ValidationError", code: "VALIDATION" });
  });

  it("is for admins only", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const reader = await app.current.seed.user("reader");
    await app.current.seed.member(org.id, reader, "READ");
    const sent = await invite(admin.token, org.id, { emails: [uniqueEmail("x")] });

    const res = await app.current.gql(REVOKE, { variables: { o: org.id, i: sent.invites[0].id }, token: reader.token });

    expect(res.data?.revokeInvite ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await app.current.db.invite.findUniqueOrThrow({ where: { id: sent.invites[0].id } })).status).toBe(
      "PENDING",
    );
  });
});

describe.each(DB_KINDS)("invite rate limit (%s)", (kind) => {
  const app = useTestApp(kind, { INVITE_RATE_LIMIT: "3" });
  const { invite, rowCounts } = api(app);

  it("fails a call that would pass INVITE_RATE_LIMIT whole with RATE_LIMITED; refreshes count", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const bob = await app.current.seed.user("bob");
    await app.current.seed.member(org.id, bob, "READ");
    const [a, b, c, d] = [uniqueEmail("a"), uniqueEmail("b"), uniqueEmail("c"), uniqueEmail("d")];

    const first = await invite(admin.token, org.id, { emails: [a, b] });
    expect(first.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(first.invited).toBe(2);

    const before = await rowCounts();
    const over = await invite(admin.token, org.id, { emails: [c, d] });
    expect(over.__typename).toBe("RateLimitedError");
    expect(over.code).toBe("RATE_LIMITED");
    expect(await rowCounts()).toEqual(before);
    expect(await app.current.db.user.count({ where: { email: { in: [c, d] } } })).toBe(0);

    // Members cost nothing: nobody is invited.
    const membersOnly = await invite(admin.token, org.id, { emails: [bob.email] });
    expect(membersOnly).toMatchObject({ __typename: "InviteUsersToOrganizationSuccess", invited: 0 });

    // A refresh counts: the third of the day passes, the fourth does not.
    const refresh = await invite(admin.token, org.id, { emails: [a], role: "EDIT" });
    expect(refresh.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(refresh.invited).toBe(1);
    const stored = await app.current.db.invite.findFirstOrThrow({ where: { organizationId: org.id, email: a } });
    const againBefore = await rowCounts();
    const again = await invite(admin.token, org.id, { emails: [a], role: "ADMIN" });
    expect(again.__typename).toBe("RateLimitedError");
    expect(again.code).toBe("RATE_LIMITED");
    expect(await rowCounts()).toEqual(againBefore);
    const unchanged = await app.current.db.invite.findUniqueOrThrow({ where: { id: stored.id } });
    expect(unchanged.role).toBe("EDIT");
    expect(unchanged.expiresAt.getTime()).toBe(stored.expiresAt.getTime());
  });

  it("rejects a single call above the limit and keeps each organization's quota separate", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const before = await rowCounts();

    const tooMany = await invite(admin.token, org.id, { emails: [1, 2, 3, 4].map(() => uniqueEmail("many")) });
    expect(tooMany.code).toBe("RATE_LIMITED");
    expect(await rowCounts()).toEqual(before);

    const exactly = await invite(admin.token, org.id, { emails: [1, 2, 3].map(() => uniqueEmail("three")) });
    expect(exactly.invited).toBe(3);

    const other = await app.current.seed.org(admin);
    const elsewhere = await invite(admin.token, other.id, { emails: [1, 2, 3].map(() => uniqueEmail("other")) });
    expect(elsewhere.invited).toBe(3);
  });
});
