import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GqlResponse, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

/**
 * "Nothing is half-written: each mutation is one transaction", with real faults: triggers in the
 * test's own database make one chosen INSERT fail after the mutation has written other rows. Every
 * earlier write of that mutation must be gone afterwards.
 */

const JOIN = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
      __typename
      ... on Error { code message }
      ... on JoinOrganizationWithInviteSuccess { member { role user { id } } }
    }
  }
`;

const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $input: CreateLinkInviteInput!) {
    createLinkInvite(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on CreateLinkInviteSuccess { linkInvite { id uses } }
    }
  }
`;

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $input: InviteUsersToOrganizationInput!) {
    inviteUsersToOrganization(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on InviteUsersToOrganizationSuccess { invited invites { id email role } }
    }
  }
`;

const CREATE_ORG = /* GraphQL */ `
  mutation ($title: String!) {
    createOrganization(input: { title: $title }) {
      __typename
      ... on Error { code message }
      ... on CreateOrganizationSuccess { organization { id } }
    }
  }
`;

/** The table of poisoned values and one trigger per (table, column) that consults it. */
const SETUP_SQL = [
  `CREATE TABLE test_poison (tbl text NOT NULL, col text NOT NULL, val text NOT NULL)`,
  `CREATE FUNCTION test_poison_check() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF EXISTS (SELECT 1 FROM test_poison p
                WHERE p.tbl = TG_TABLE_NAME AND p.col = TG_ARGV[0] AND p.val = to_jsonb(NEW) ->> TG_ARGV[0]) THEN
       RAISE EXCEPTION 'injected fault: INSERT INTO % with % = %', TG_TABLE_NAME, TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[0];
     END IF;
     RETURN NEW;
   END
   $$`,
  `CREATE TRIGGER test_poison_member BEFORE INSERT ON "Member" FOR EACH ROW EXECUTE FUNCTION test_poison_check('userId')`,
  `CREATE TRIGGER test_poison_grant BEFORE INSERT ON "MemberGrant" FOR EACH ROW EXECUTE FUNCTION test_poison_check('userId')`,
  `CREATE TRIGGER test_poison_invite BEFORE INSERT ON "Invite" FOR EACH ROW EXECUTE FUNCTION test_poison_check('email')`,
];

const TEARDOWN_SQL = [
  `DROP TRIGGER IF EXISTS test_poison_member ON "Member"`,
  `DROP TRIGGER IF EXISTS test_poison_grant ON "MemberGrant"`,
  `DROP TRIGGER IF EXISTS test_poison_invite ON "Invite"`,
  `DROP FUNCTION IF EXISTS test_poison_check()`,
  `DROP TABLE IF EXISTS test_poison`,
];

/** The mutation failed as a whole: a top-level error, no Success payload. */
function expectFailed(res: GqlResponse, field: string): void {
  expect(res.errors?.length, JSON.stringify(res)).toBeGreaterThan(0);
  const payload = res.data?.[field] as { __typename?: string } | null | undefined;
  expect(String(payload?.__typename ?? null)).not.toMatch(/Success$/);
  // An internal failure is masked, not shown to the client.
  expect(JSON.stringify(res.errors)).not.toContain("injected fault");
}

describe.each(DB_KINDS)("each mutation is one transaction, under injected faults (%s)", (kind) => {
  const app = useTestApp(kind);

  beforeAll(async () => {
    for (const sql of SETUP_SQL) await app.current.db.$executeRawUnsafe(sql);
  });
  afterAll(async () => {
    if (!app.current) return;
    for (const sql of TEARDOWN_SQL) await app.current.db.$executeRawUnsafe(sql);
  });

  async function poison(table: "Member" | "MemberGrant" | "Invite", col: "userId" | "email", val: string) {
    await app.current.db.$executeRawUnsafe(
      "INSERT INTO test_poison (tbl, col, val) VALUES ($1, $2, $3)",
      table,
      col,
      val,
    );
  }
  async function cure(val: string) {
    await app.current.db.$executeRawUnsafe("DELETE FROM test_poison WHERE val = $1", val);
  }

  async function createLink(admin: TestUser, orgId: string, input: object): Promise<string> {
    const res = await app.current.gql(CREATE_LINK, { variables: { o: orgId, input }, token: admin.token });
    expect(res.errors).toBeUndefined();
    expect(res.data?.createLinkInvite.__typename).toBe("CreateLinkInviteSuccess");
    return res.data?.createLinkInvite.linkInvite.id;
  }

  function join(user: TestUser, orgId: string, inviteId: string) {
    return app.current.gql(JOIN, { variables: { o: orgId, i: inviteId }, token: user.token });
  }

  async function membershipRows(orgId: string, userId: string) {
    const { db } = app.current;
    return {
      members: await db.member.count({ where: { organizationId: orgId, userId } }),
      grants: await db.memberGrant.count({ where: { organizationId: orgId, userId } }),
    };
  }

  it("the injection works: a poisoned insert fails, others pass", async () => {
    const org = await app.current.seed.org();
    const user = await app.current.seed.user("probe");
    await poison("Member", "userId", user.id);
    await expect(
      app.current.db.member.create({ data: { organizationId: org.id, userId: user.id, role: "READ" } }),
    ).rejects.toThrow(/injected fault/);
    await cure(user.id);
    await app.current.db.member.create({ data: { organizationId: org.id, userId: user.id, role: "READ" } });
    expect((await membershipRows(org.id, user.id)).members).toBe(1);
  });

  it("join with an organization link: a failed membership insert leaves the link's uses unchanged", async () => {
    const org = await app.current.seed.org();
    const linkId = await createLink(org.owner, org.id, { role: "EDIT", maxUses: 5 });
    const joiner = await app.current.seed.user("joiner");
    await poison("Member", "userId", joiner.id);

    const res = await join(joiner, org.id, linkId);

    expectFailed(res, "joinOrganizationWithInvite");
    const link = await app.current.db.linkInvite.findUniqueOrThrow({ where: { id: linkId } });
    expect(link.uses).toBe(0);
    expect(await membershipRows(org.id, joiner.id)).toEqual({ members: 0, grants: 0 });

    // Without the fault the same join succeeds and counts one use.
    await cure(joiner.id);
    const ok = await join(joiner, org.id, linkId);
    expect(ok.data?.joinOrganizationWithInvite.__typename).toBe("JoinOrganizationWithInviteSuccess");
    expect((await app.current.db.linkInvite.findUniqueOrThrow({ where: { id: linkId } })).uses).toBe(1);
  });

  it("join with a SPACE link: a failed grant insert takes back the membership and the use", async () => {
    const org = await app.current.seed.org();
    const linkId = await createLink(org.owner, org.id, { kind: "SPACE", spaceId: "space-tx", role: "COMMENT" });
    const guest = await app.current.seed.user("guest");
    // The Member row is written, then the MemberGrant insert fails.
    await poison("MemberGrant", "userId", guest.id);

    const res = await join(guest, org.id, linkId);

    expectFailed(res, "joinOrganizationWithInvite");
    expect((await app.current.db.linkInvite.findUniqueOrThrow({ where: { id: linkId } })).uses).toBe(0);
    expect(await membershipRows(org.id, guest.id)).toEqual({ members: 0, grants: 0 });

    await cure(guest.id);
    const ok = await join(guest, org.id, linkId);
    expect(ok.data?.joinOrganizationWithInvite).toMatchObject({
      __typename: "JoinOrganizationWithInviteSuccess",
      member: { role: "GUEST" },
    });
    expect(await membershipRows(org.id, guest.id)).toEqual({ members: 1, grants: 1 });
  });

  it("join with an email invite: a failed membership insert leaves the invite PENDING", async () => {
    const org = await app.current.seed.org();
    const invitee = await app.current.seed.user("invitee");
    const sent = await app.current.gql(INVITE, {
      variables: { o: org.id, input: { emails: [invitee.email], role: "REVIEW" } },
      token: org.owner.token,
    });
    const inviteId = sent.data?.inviteUsersToOrganization.invites[0].id as string;
    const before = await app.current.db.invite.findUniqueOrThrow({ where: { id: inviteId } });
    await poison("Member", "userId", invitee.id);

    const res = await join(invitee, org.id, inviteId);

    expectFailed(res, "joinOrganizationWithInvite");
    const after = await app.current.db.invite.findUniqueOrThrow({ where: { id: inviteId } });
    expect(after).toEqual(before);
    expect(after.status).toBe("PENDING");
    expect(after.acceptedAt).toBeNull();
    expect(await membershipRows(org.id, invitee.id)).toEqual({ members: 0, grants: 0 });
  });

  it("inviteUsersToOrganization: one failed invite insert leaves no users, invites, quota or refresh behind", async () => {
    const { db } = app.current;
    const org = await app.current.seed.org();
    const refresh = uniqueEmail("refresh");
    const ok = uniqueEmail("ok");
    const poisoned = uniqueEmail("poisoned");

    // A pending invite that the failing call would refresh; it already counts 1 in today's quota.
    const first = await app.current.gql(INVITE, {
      variables: { o: org.id, input: { emails: [refresh], role: "READ" } },
      token: org.owner.token,
    });
    expect(first.data?.inviteUsersToOrganization.__typename).toBe("InviteUsersToOrganizationSuccess");
    const pendingBefore = await db.invite.findFirstOrThrow({ where: { organizationId: org.id, email: refresh } });
    const quotaBefore = await db.inviteQuota.findMany({ where: { organizationId: org.id } });
    expect(quotaBefore.map((q) => q.count)).toEqual([1]);
    const usersBefore = await db.user.count();
    const invitesBefore = await db.invite.count();
    await poison("Invite", "email", poisoned);
    // Let time pass, so a refresh that survived would show a different expiry.
    await new Promise((r) => setTimeout(r, 20));

    const res = await app.current.gql(INVITE, {
      variables: {
        o: org.id,
        input: {
          invitees: [
            { email: refresh, role: "ADMIN" },
            { email: ok, role: "EDIT" },
            { email: poisoned, role: "EDIT" },
          ],
        },
      },
      token: org.owner.token,
    });

    expectFailed(res, "inviteUsersToOrganization");
    expect(await db.user.count({ where: { email: { in: [ok, poisoned] } } })).toBe(0);
    expect(await db.invite.count({ where: { email: { in: [ok, poisoned] } } })).toBe(0);
    expect(await db.user.count()).toBe(usersBefore);
    expect(await db.invite.count()).toBe(invitesBefore);
    expect(await db.inviteQuota.findMany({ where: { organizationId: org.id } })).toEqual(quotaBefore);
    const pendingAfter = await db.invite.findUniqueOrThrow({ where: { id: pendingBefore.id } });
    expect(pendingAfter).toEqual(pendingBefore);
    expect(pendingAfter.role).toBe("READ");

    // An organization with no quota row yet: still none after the failed call.
    const fresh = await app.current.seed.org();
    const res2 = await app.current.gql(INVITE, {
      variables: { o: fresh.id, input: { emails: [uniqueEmail("ok2"), poisoned] } },
      token: fresh.owner.token,
    });
    expectFailed(res2, "inviteUsersToOrganization");
    expect(await db.inviteQuota.count({ where: { organizationId: fresh.id } })).toBe(0);
    expect(await db.invite.count({ where: { organizationId: fresh.id } })).toBe(0);
  });

  it("createOrganization: a failed owner membership leaves no organization", async () => {
    const { db } = app.current;
    const creator = await app.current.seed.user("creator");
    const title = `Doomed ${uniqueEmail("org")}`;
    const orgsBefore = await db.organization.count();
    await poison("Member", "userId", creator.id);

    const res = await app.current.gql(CREATE_ORG, { variables: { title }, token: creator.token });

    expectFailed(res, "createOrganization");
    expect(await db.organization.count({ where: { title } })).toBe(0);
    expect(await db.organization.count()).toBe(orgsBefore);
    expect(await db.member.count({ where: { userId: creator.id } })).toBe(0);

    await cure(creator.id);
    const ok = await app.current.gql(CREATE_ORG, { variables: { title }, token: creator.token });
    expect(ok.data?.createOrganization.__typename).toBe("CreateOrganizationSuccess");
    expect(await db.organization.count({ where: { title } })).toBe(1);
  });
});
