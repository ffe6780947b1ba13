import { describe, expect, it } from "vitest";
import { uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const JOIN = `mutation($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
  __typename ... on Error { code } } }`;
const INVITE = `mutation($o: ID!, $e: String!, $r: MemberRole) {
  inviteUsersToOrganization(organizationId: $o, input: { emails: [$e], role: $r }) {
    __typename ... on Error { code message } ... on InviteUsersToOrganizationSuccess { invited invites { id } } } }`;

describe.each(DB_KINDS)("concurrency (%s)", (kind) => {
  const app = useTestApp(kind);

  it("30 concurrent joins on a maxUses: 5 link make exactly 5 members", async () => {
    const { seed, db, gql } = app.current;
    const org = await seed.org();
    const link = await db.linkInvite.create({
      data: { id: `link-${Date.now()}`, organizationId: org.id, role: "READ", maxUses: 5 },
    });
    const joiners = await Promise.all(Array.from({ length: 30 }, () => seed.user("joiner")));
    const results = await Promise.all(
      joiners.map((u) => gql(JOIN, { token: u.token, variables: { o: org.id, i: link.id } })),
    );
    const outcomes = results.map(
      (r) => r.data?.joinOrganizationWithInvite?.code ?? r.data?.joinOrganizationWithInvite?.__typename,
    );
    expect(outcomes.filter((o) => o === "JoinOrganizationWithInviteSuccess")).toHaveLength(5);
    expect(outcomes.filter((o) => o === "INVITE_USED_UP")).toHaveLength(25);
    expect(await db.member.count({ where: { organizationId: org.id, role: "READ" } })).toBe(5);
    expect((await db.linkInvite.findUniqueOrThrow({ where: { id: link.id } })).uses).toBe(5);
  });

  it("one user joining twice at once becomes one member and uses the link once", async () => {
    const { seed, db, gql } = app.current;
    const org = await seed.org();
    const link = await db.linkInvite.create({
      data: { id: `twice-${Date.now()}`, organizationId: org.id, role: "EDIT" },
    });
    const user = await seed.user("twice");
    const results = await Promise.all(
      Array.from({ length: 5 }, () => gql(JOIN, { token: user.token, variables: { o: org.id, i: link.id } })),
    );
    const outcomes = results.map(
      (r) => r.data?.joinOrganizationWithInvite?.code ?? r.data?.joinOrganizationWithInvite?.__typename,
    );
    expect(outcomes.filter((o) => o === "JoinOrganizationWithInviteSuccess")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "ALREADY_MEMBER")).toHaveLength(4);
    expect((await db.linkInvite.findUniqueOrThrow({ where: { id: link.id } })).uses).toBe(1);
  });

  it("20 concurrent invites of one email leave exactly one PENDING invite", async () => {
    const { seed, db, gql } = app.current;
    const org = await seed.org();
    const email = uniqueEmail("contended");
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: email, r: i % 2 ? "EDIT" : "READ" } }),
      ),
    );
    for (const r of results) {
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      expect(r.data?.inviteUsersToOrganization).toMatchObject({
        __typename: "InviteUsersToOrganizationSuccess",
        invited: 1,
      });
    }
    const ids = new Set(results.map((r) => r.data?.inviteUsersToOrganization.invites[0].id));
    expect(ids.size).toBe(1);
    expect(await db.invite.count({ where: { organizationId: org.id, email, status: "PENDING" } })).toBe(1);
    expect(await db.user.count({ where: { email } })).toBe(1);
  });

  it("the database itself refuses a second PENDING invite and uses above maxUses", async () => {
    const { seed, db } = app.current;
    const org = await seed.org();
    const email = uniqueEmail("direct");
    const expiresAt = new Date(Date.now() + 60_000);
    await db.invite.create({ data: { id: `a-${Date.now()}`, organizationId: org.id, email, role: "READ", expiresAt } });
    await expect(
      db.invite.create({ data: { id: `b-${Date.now()}`, organizationId: org.id, email, role: "READ", expiresAt } }),
    ).rejects.toMatchObject({ code: "P2002" });
    const link = await db.linkInvite.create({
      data: { id: `c-${Date.now()}`, organizationId: org.id, role: "READ", maxUses: 1, uses: 1 },
    });
    await expect(db.linkInvite.update({ where: { id: link.id }, data: { uses: 2 } })).rejects.toThrow();
    await expect(
      db.invite.create({
        data: { id: `d-${Date.now()}`, organizationId: org.id, email: "Upper@Example.com", role: "READ", expiresAt },
      }),
    ).rejects.toThrow();
  });
});
