import { describe, expect, it } from "vitest";
import { type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $input: InviteUsersToOrganizationInput!) {
    inviteUsersToOrganization(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on InviteUsersToOrganizationSuccess { invited invites { id email role expiresAt } }
    }
  }
`;

async function invite(app: { current: TestApp }, token: string, organizationId: string, input: object) {
  const res = await app.current.gql(INVITE, { variables: { o: organizationId, input }, token });
  expect(res.errors).toBeUndefined();
  return res.data?.inviteUsersToOrganization;
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

describe.each(DB_KINDS)("INVITE_TTL (%s)", (kind) => {
  const app = useTestApp(kind, { INVITE_TTL: "1h" });

  it("sets a new invite's and a refreshed invite's expiry to now + INVITE_TTL", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const email = uniqueEmail("ttl");

    const created = await invite(app, admin.token, org.id, { emails: [email] });
    expect(created.__typename).toBe("InviteUsersToOrganizationSuccess");
    const expiresAt = new Date(created.invites[0].expiresAt).getTime();
    expect(Math.abs(expiresAt - (Date.now() + HOUR_MS))).toBeLessThanOrEqual(MINUTE_MS);
    const stored = await app.current.db.invite.findUniqueOrThrow({ where: { id: created.invites[0].id } });
    expect(Math.abs(stored.expiresAt.getTime() - (Date.now() + HOUR_MS))).toBeLessThanOrEqual(MINUTE_MS);

    // Age it in the database; a refresh gives it a fresh hour again.
    await app.current.db.invite.update({
      where: { id: stored.id },
      data: { expiresAt: new Date(Date.now() + 5 * MINUTE_MS) },
    });
    const refreshed = await invite(app, admin.token, org.id, { emails: [email], role: "EDIT" });
    expect(refreshed.invites[0].id).toBe(stored.id);
    expect(Math.abs(new Date(refreshed.invites[0].expiresAt).getTime() - (Date.now() + HOUR_MS))).toBeLessThanOrEqual(
      MINUTE_MS,
    );
  });
});

describe.each(DB_KINDS)("INVITE_RATE_LIMIT per UTC day (%s)", (kind) => {
  const app = useTestApp(kind, { INVITE_RATE_LIMIT: "2" });

  it("yesterday's (UTC) count does not limit today's invites", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    const now = new Date();
    const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const yesterday = new Date(today.getTime() - 24 * HOUR_MS);
    await app.current.db.inviteQuota.create({ data: { organizationId: org.id, day: yesterday, count: 2 } });

    const first = await invite(app, admin.token, org.id, { emails: [uniqueEmail("today1")] });
    expect(first.__typename).toBe("InviteUsersToOrganizationSuccess");
    const second = await invite(app, admin.token, org.id, { emails: [uniqueEmail("today2")] });
    expect(second.__typename).toBe("InviteUsersToOrganizationSuccess");

    const third = await invite(app, admin.token, org.id, { emails: [uniqueEmail("today3")] });
    expect(third).toMatchObject({ __typename: "RateLimitedError", code: "RATE_LIMITED" });

    const quota = await app.current.db.inviteQuota.findMany({
      where: { organizationId: org.id },
      orderBy: { day: "asc" },
    });
    expect(quota.map((q) => [q.day.toISOString().slice(0, 10), q.count])).toEqual([
      [yesterday.toISOString().slice(0, 10), 2],
      [today.toISOString().slice(0, 10), 2],
    ]);
  });
});

describe.each(DB_KINDS)("viewerRole through a pending invite (%s)", (kind) => {
  const app = useTestApp(kind);

  it("is null for a non-member who reaches the organization through their own invite", async () => {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin, "Invited Org");
    const invitee = await app.current.seed.user("invitee");
    const sent = await invite(app, admin.token, org.id, { emails: [invitee.email], role: "EDIT" });
    expect(sent.__typename).toBe("InviteUsersToOrganizationSuccess");

    const res = await app.current.gql(
      "{ viewer { pendingInvites { id role organization { id title viewerRole } } } }",
      { token: invitee.token },
    );

    expect(res.errors).toBeUndefined();
    expect(res.data?.viewer.pendingInvites).toEqual([
      { id: sent.invites[0].id, role: "EDIT", organization: { id: org.id, title: "Invited Org", viewerRole: null } },
    ]);
  });
});

describe.each(DB_KINDS)("members page size (%s)", (kind) => {
  const app = useTestApp(kind);
  const MEMBERS = "query ($o: ID!, $first: Int) { organization(id: $o) { members(first: $first) { totalCount } } }";

  it.each([1001, -1])("refuses members(first: %i) with a top-level BAD_USER_INPUT error", async (first) => {
    const org = await app.current.seed.org();

    const res = await app.current.gql(MEMBERS, { variables: { o: org.id, first }, token: org.owner.token });

    expect(res.errors?.length).toBeGreaterThan(0);
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);
    expect(res.data?.organization ?? null).toBeNull();
  });

  it("accepts first: 1000 and first: 0", async () => {
    const org = await app.current.seed.org();
    for (const first of [1000, 0]) {
      const res = await app.current.gql(MEMBERS, { variables: { o: org.id, first }, token: org.owner.token });
      expect(res.errors).toBeUndefined();
      expect(res.data?.organization.members.totalCount).toBe(1);
    }
  });
});
