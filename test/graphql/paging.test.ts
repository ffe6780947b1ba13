import { describe, expect, it } from "vitest";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const LINKS = `query($o: ID!, $first: Int) { organization(id: $o) { linkInvites(first: $first) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } }`;
const MEMBERS = `query($o: ID!, $first: Int, $after: String, $role: MemberRole) { organization(id: $o) {
  members(first: $first, after: $after, role: $role) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { role user { email } } } } } }`;
const BAD_IDS = `mutation($o: ID!, $i: ID!) {
  join: joinOrganizationWithInvite(organizationId: $o, inviteId: $i) { __typename ... on ValidationError { code issues { path } } }
  revoke: revokeInvite(organizationId: $o, inviteId: $i) { __typename ... on ValidationError { code issues { path } } }
  revokeLink: revokeLinkInvite(organizationId: $o, inviteId: $i) { __typename ... on ValidationError { code issues { path } } }
  update: updateLinkInvite(organizationId: $o, inviteId: $i, input: { maxUses: 3 }) { __typename ... on ValidationError { code issues { path } } }
}`;

describe.each(DB_KINDS)("paging and ids (%s)", (kind) => {
  const app = useTestApp(kind);

  it("pages 100 by default and up to 1000 on request", async () => {
    const { seed, db, gql } = app.current;
    const org = await seed.org();
    await db.linkInvite.createMany({
      data: Array.from({ length: 101 }, (_, i) => ({
        id: `p${i}-${org.id}`,
        organizationId: org.id,
        role: "READ" as const,
        createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i)),
      })),
    });
    const byDefault = await gql(LINKS, { token: org.owner.token, variables: { o: org.id } });
    const links = byDefault.data?.organization.linkInvites;
    expect(links.totalCount).toBe(101);
    expect(links.edges).toHaveLength(100);
    expect(links.pageInfo.hasNextPage).toBe(true);
    // Newest first: the link created last (second 100) leads.
    expect(links.edges[0].node.id).toBe(`p100-${org.id}`);
    const all = await gql(LINKS, { token: org.owner.token, variables: { o: org.id, first: 1000 } });
    expect(all.data?.organization.linkInvites.edges).toHaveLength(101);
    expect(all.data?.organization.linkInvites.pageInfo.hasNextPage).toBe(false);
  });

  it("walks members page by page with a role filter, totalCount counting the filter", async () => {
    const { seed, gql } = app.current;
    const org = await seed.org();
    const editors = [];
    for (let i = 0; i < 5; i++) {
      const u = await seed.user("editor");
      await seed.member(org.id, u, "EDIT");
      editors.push(u.email);
      await seed.member(org.id, await seed.user("reader"), "READ");
    }
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res: { data?: any } = await gql(MEMBERS, {
        token: org.owner.token,
        variables: { o: org.id, first: 2, after, role: "EDIT" },
      });
      const conn: any = res.data?.organization.members;
      expect(conn.totalCount).toBe(5);
      seen.push(...conn.edges.map((e: any) => e.node.user.email));
      for (const e of conn.edges) expect(e.node.role).toBe("EDIT");
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toEqual([...editors].reverse());
    const everyone = await gql(MEMBERS, { token: org.owner.token, variables: { o: org.id } });
    expect(everyone.data?.organization.members.totalCount).toBe(11);
  });

  it("pages invites the same way whichever statements load the page (first page, after a cursor, last, first: 0)", async () => {
    const { seed, db, gql } = app.current;
    const org = await seed.org();
    // Ties on createdAt (a bulk invite shares one) are ordered by id, newest first.
    await db.invite.createMany({
      data: Array.from({ length: 7 }, (_, i) => ({
        id: `inv${i}-${org.id}`,
        organizationId: org.id,
        email: `paged-${i}@example.com`,
        role: "READ" as const,
        createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i % 3)),
        expiresAt: new Date(Date.UTC(2030, 0, 8)),
      })),
    });
    const INVITES = `query($o: ID!, $first: Int, $after: String, $last: Int, $before: String) { organization(id: $o) {
      invites(first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { cursor node { id email role sso status createdAt expiresAt acceptedAt } } } } }`;
    const page = async (variables: Record<string, unknown>) => {
      const res = await gql(INVITES, { token: org.owner.token, variables: { o: org.id, ...variables } });
      expect(res.errors).toBeUndefined();
      return res.data?.organization.invites;
    };
    const all = await page({ first: 100 });
    expect(all.totalCount).toBe(7);
    const rows = await db.invite.findMany({
      where: { organizationId: org.id },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    });
    expect(all.edges.map((e: any) => e.node.id)).toEqual(rows.map((r) => r.id));
    expect(all.edges[0].node).toEqual({
      id: rows[0]?.id,
      email: rows[0]?.email,
      role: "READ",
      sso: false,
      status: "PENDING",
      createdAt: rows[0]?.createdAt.toISOString(),
      expiresAt: "2030-01-08T00:00:00.000Z",
      acceptedAt: null,
    });
    const walked: unknown[] = [];
    let after: string | null = null;
    for (let i = 0; i < 5; i++) {
      const conn: any = await page({ first: 3, after });
      expect(conn.totalCount).toBe(7);
      walked.push(...conn.edges);
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(walked).toEqual(all.edges);
    const last = await page({ last: 2 });
    expect(last.edges).toEqual(all.edges.slice(-2));
    const none = await page({ first: 0 });
    expect(none).toMatchObject({ totalCount: 7, edges: [], pageInfo: { hasNextPage: true } });
  });

  it("answers an empty or huge inviteId with a VALIDATION result in every mutation that takes one", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const before = await db.member.count();
    for (const bad of ["", "x".repeat(201)]) {
      const res = await gql(BAD_IDS, { token: org.owner.token, variables: { o: org.id, i: bad } });
      expect(res.errors).toBeUndefined();
      for (const field of ["join", "revoke", "revokeLink", "update"]) {
        expect(res.data?.[field]).toEqual({
          __typename: "ValidationError",
          code: "VALIDATION",
          issues: [{ path: ["inviteId"] }],
        });
      }
    }
    expect(await db.member.count()).toBe(before);
  });
});
