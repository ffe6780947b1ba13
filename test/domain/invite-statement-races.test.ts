import { describe, expect, it } from "vitest";
import { uniqueEmail, useTestApp } from "../helpers/app.js";

/**
 * The single-statement inviteUsersToOrganization under concurrent callers (PostgreSQL: truly
 * concurrent, READ COMMITTED): the daily quota, one PENDING invite per email, no crash.
 */
const INVITE = `mutation($o: ID!, $e: [String!]!) {
  inviteUsersToOrganization(organizationId: $o, input: { emails: $e, role: READ }) {
    __typename ... on Error { code } ... on InviteUsersToOrganizationSuccess { invited } } }`;

describe.skipIf(!process.env.TEST_DATABASE_URL)("concurrent single-statement invites (postgres)", () => {
  const app = useTestApp("postgres", { INVITE_RATE_LIMIT: "5" });

  it("30 concurrent one-email calls: at most INVITE_RATE_LIMIT invites, the rest RATE_LIMITED", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: [uniqueEmail("q")] } }),
      ),
    );
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    const ok = results.filter(
      (r) => r.data?.inviteUsersToOrganization.__typename === "InviteUsersToOrganizationSuccess",
    );
    expect(ok.length).toBe(5);
    expect(await db.invite.count({ where: { organizationId: org.id } })).toBe(5);
  });

  it("crossed email orders in concurrent calls: no crash (deadlock), one PENDING invite per email", async () => {
    const { seed, gql, db } = app.current;
    for (let round = 0; round < 5; round++) {
      const org = await seed.org();
      const a = uniqueEmail("a");
      const b = uniqueEmail("b");
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: i % 2 ? [a, b] : [b, a] } }),
        ),
      );
      for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      expect(await db.invite.count({ where: { organizationId: org.id, status: "PENDING" } })).toBe(2);
    }
  });

  it("20 concurrent calls for one existing user's email: all answer, one PENDING invite", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const user = await seed.user("same");
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: [user.email] } }),
      ),
    );
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(await db.invite.count({ where: { organizationId: org.id, status: "PENDING" } })).toBe(1);
  });
});
