import { describe, expect, it } from "vitest";
import { type TestUser, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const PUBLIC_URL = "https://invites.example.com";

const LINK_FIELDS = /* GraphQL */ `
  id kind role spaceId collectionId redundant url status uses maxUses
  createdBy { id } organization { id } createdAt updatedAt expiresAt revokedAt
`;

const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $input: CreateLinkInviteInput!) {
    createLinkInvite(organizationId: $o, input: $input) {
      __typename
      ... on Error { code message }
      ... on CreateLinkInviteSuccess { linkInvite { ${LINK_FIELDS} } }
    }
  }
`;

const UPDATE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!, $input: UpdateLinkInviteInput!) {
    updateLinkInvite(organizationId: $o, inviteId: $i, input: $input) {
      __typename
      ... on Error { code message }
      ... on UpdateLinkInviteSuccess { linkInvite { ${LINK_FIELDS} } }
    }
  }
`;

const REVOKE_LINK = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    revokeLinkInvite(organizationId: $o, inviteId: $i) {
      __typename
      ... on Error { code message }
      ... on RevokeLinkInviteSuccess { existed linkInvite { ${LINK_FIELDS} } }
    }
  }
`;

const JOIN = /* GraphQL */ `
  mutation ($o: ID!, $i: ID!) {
    joinOrganizationWithInvite(organizationId: $o, inviteId: $i) { __typename ... on Error { code } }
  }
`;

const ONE_LINK = /* GraphQL */ `
  query ($o: ID!, $i: ID!) { organization(id: $o) { linkInvite(id: $i) { ${LINK_FIELDS} } } }
`;

const LINKS = /* GraphQL */ `
  query ($o: ID!, $first: Int, $after: String) {
    organization(id: $o) {
      linkInvites(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id status } }
      }
    }
  }
`;

const HOUR_MS = 3_600_000;
const inHours = (hours: number) => new Date(Date.now() + hours * HOUR_MS).toISOString();

describe.each(DB_KINDS)("link invites (%s)", (kind) => {
  const app = useTestApp(kind, { PUBLIC_URL });

  async function gqlOk(query: string, variables: Record<string, unknown>, token: string) {
    const res = await app.current.gql(query, { variables, token });
    expect(res.errors).toBeUndefined();
    return res.data as Record<string, any>;
  }

  async function setup(): Promise<{ admin: TestUser; orgId: string }> {
    const admin = await app.current.seed.user("admin");
    const org = await app.current.seed.org(admin);
    return { admin, orgId: org.id };
  }

  async function create(admin: TestUser, orgId: string, input: Record<string, unknown>) {
    return (await gqlOk(CREATE_LINK, { o: orgId, input }, admin.token)).createLinkInvite;
  }

  async function createOk(admin: TestUser, orgId: string, input: Record<string, unknown>) {
    const result = await create(admin, orgId, input);
    expect(result.__typename).toBe("CreateLinkInviteSuccess");
    return result.linkInvite;
  }

  async function update(admin: TestUser, orgId: string, id: string, input: Record<string, unknown>) {
    return (await gqlOk(UPDATE_LINK, { o: orgId, i: id, input }, admin.token)).updateLinkInvite;
  }

  async function revoke(admin: TestUser, orgId: string, id: string) {
    return (await gqlOk(REVOKE_LINK, { o: orgId, i: id }, admin.token)).revokeLinkInvite;
  }

  async function readLink(admin: TestUser, orgId: string, id: string) {
    return (await gqlOk(ONE_LINK, { o: orgId, i: id }, admin.token)).organization.linkInvite;
  }

  async function joinAs(prefix: string, orgId: string, id: string) {
    const user = await app.current.seed.user(prefix);
    const res = await gqlOk(JOIN, { o: orgId, i: id }, user.token);
    return res.joinOrganizationWithInvite.__typename as string;
  }

  describe("createLinkInvite", () => {
    it("creates an ACTIVE organization link with defaults and a URL built from PUBLIC_URL", async () => {
      const { admin, orgId } = await setup();
      const before = Date.now();

      const link = await createOk(admin, orgId, { role: "READ" });

      expect(link).toMatchObject({
        kind: "ORGANIZATION",
        role: "READ",
        spaceId: null,
        collectionId: null,
        status: "ACTIVE",
        uses: 0,
        maxUses: null,
        expiresAt: null,
        revokedAt: null,
        redundant: true, // the admin already has READ
        createdBy: { id: admin.id },
        organization: { id: orgId },
      });
      expect(link.id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
      expect(link.url.startsWith(`${PUBLIC_URL}/`)).toBe(true);
      expect(link.url).toContain(link.id);
      expect(new Date(link.createdAt).getTime()).toBeGreaterThanOrEqual(before - 1000);

      const other = await createOk(admin, orgId, { role: "READ" });
      expect(other.id).not.toBe(link.id);
      expect(await readLink(admin, orgId, link.id)).toEqual(link);
    });

    it("stores kind, target, expiry and maxUses as given", async () => {
      const { admin, orgId } = await setup();
      const expiresAt = inHours(48);

      const space = await createOk(admin, orgId, {
        kind: "SPACE",
        spaceId: "space-1",
        role: "EDIT",
        maxUses: 5,
        expiresAt,
      });
      expect(space).toMatchObject({
        kind: "SPACE",
        role: "EDIT",
        spaceId: "space-1",
        collectionId: null,
        maxUses: 5,
        uses: 0,
        expiresAt,
        status: "ACTIVE",
      });

      const collection = await createOk(admin, orgId, { kind: "COLLECTION", collectionId: "coll-1", role: "ADMIN" });
      expect(collection).toMatchObject({ kind: "COLLECTION", role: "ADMIN", spaceId: null, collectionId: "coll-1" });
    });

    it.each([
      ["maxUses 0", { role: "READ", maxUses: 0 }],
      ["maxUses -1", { role: "READ", maxUses: -1 }],
      ["an expiry in the past", { role: "READ", expiresAt: "2020-01-01T00:00:00Z" }],
      ["a SPACE link without spaceId", { kind: "SPACE", role: "READ" }],
      ["a COLLECTION link without collectionId", { kind: "COLLECTION", role: "READ" }],
      ["the GUEST role", { role: "GUEST" }],
      // Found by test/e2e/fuzz.test.ts (masked crashes before): text PostgreSQL cannot store.
      ["a spaceId with NUL", { kind: "SPACE", role: "READ", spaceId: "space\u0000" }],
      ["a collectionId with a lone surrogate", { kind: "COLLECTION", role: "READ", collectionId: "é\udfff" }],
    ])("rejects %s with VALIDATION and writes nothing", async (_label, input) => {
      const { admin, orgId } = await setup();
      const before = await app.current.db.linkInvite.count();

      const result = await create(admin, orgId, input);

      expect(result.__typename).toBe("ValidationError");
      expect(result.code).toBe("VALIDATION");
      expect(await app.current.db.linkInvite.count()).toBe(before);
    });

    it("is for admins only", async () => {
      const { orgId } = await setup();
      const editor = await app.current.seed.user("editor");
      await app.current.seed.member(orgId, editor, "EDIT");

      const res = await app.current.gql(CREATE_LINK, {
        variables: { o: orgId, input: { role: "READ" } },
        token: editor.token,
      });

      expect(res.data?.createLinkInvite ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect(await app.current.db.linkInvite.count({ where: { organizationId: orgId } })).toBe(0);
    });
  });

  describe("updateLinkInvite", () => {
    it("changes role, maxUses and expiresAt; omitted fields stay", async () => {
      const { admin, orgId } = await setup();
      const link = await createOk(admin, orgId, { role: "READ", maxUses: 3 });
      const expiresAt = inHours(24);

      const result = await update(admin, orgId, link.id, { role: "EDIT", maxUses: 10, expiresAt });

      expect(result.__typename).toBe("UpdateLinkInviteSuccess");
      expect(result.linkInvite).toMatchObject({ id: link.id, role: "EDIT", maxUses: 10, expiresAt, status: "ACTIVE" });
      expect(new Date(result.linkInvite.updatedAt).getTime()).toBeGreaterThanOrEqual(
        new Date(link.updatedAt).getTime(),
      );
      expect(await readLink(admin, orgId, link.id)).toMatchObject({ role: "EDIT", maxUses: 10, expiresAt });

      const roleOnly = await update(admin, orgId, link.id, { role: "COMMENT" });
      expect(roleOnly.linkInvite).toMatchObject({ role: "COMMENT", maxUses: 10, expiresAt });
    });

    it("clears maxUses and expiresAt with null", async () => {
      const { admin, orgId } = await setup();
      const link = await createOk(admin, orgId, { role: "READ", maxUses: 3, expiresAt: inHours(1) });

      const result = await update(admin, orgId, link.id, { maxUses: null, expiresAt: null });

      expect(result.__typename).toBe("UpdateLinkInviteSuccess");
      expect(result.linkInvite).toMatchObject({ role: "READ", maxUses: null, expiresAt: null });
      expect(await readLink(admin, orgId, link.id)).toMatchObject({ maxUses: null, expiresAt: null });
    });

    it("returns NOT_FOUND for an unknown id", async () => {
      const { admin, orgId } = await setup();

      const result = await update(admin, orgId, "AAAAAAAAAAAAAAAAAAAAAA", { role: "EDIT" });

      expect(result.__typename).toBe("NotFoundError");
      expect(result.code).toBe("NOT_FOUND");
    });

    it("returns NOT_FOUND for a link of another organization and leaves it unchanged", async () => {
      const { admin, orgId } = await setup();
      const { admin: otherAdmin, orgId: otherId } = await setup();
      const theirs = await createOk(otherAdmin, otherId, { role: "READ" });

      const result = await update(admin, orgId, theirs.id, { role: "ADMIN", maxUses: 1 });

      expect(result.__typename).toBe("NotFoundError");
      expect(result.code).toBe("NOT_FOUND");
      expect(await readLink(otherAdmin, otherId, theirs.id)).toMatchObject({ role: "READ", maxUses: null });
    });

    it("returns INVITE_REVOKED for a revoked link and leaves it unchanged", async () => {
      const { admin, orgId } = await setup();
      const link = await createOk(admin, orgId, { role: "READ" });
      await revoke(admin, orgId, link.id);

      const result = await update(admin, orgId, link.id, { role: "EDIT" });

      expect(result.__typename).toBe("InviteRevokedError");
      expect(result.code).toBe("INVITE_REVOKED");
      expect(await readLink(admin, orgId, link.id)).toMatchObject({ role: "READ", status: "REVOKED" });
    });

    it("rejects maxUses 0 and maxUses below the current uses with VALIDATION", async () => {
      const { admin, orgId } = await setup();
      const link = await createOk(admin, orgId, { role: "READ", maxUses: 5 });
      expect(await joinAs("one", orgId, link.id)).toBe("JoinOrganizationWithInviteSuccess");
      expect(await joinAs("two", orgId, link.id)).toBe("JoinOrganizationWithInviteSuccess");

      const zero = await update(admin, orgId, link.id, { maxUses: 0 });
      expect(zero.__typename).toBe("ValidationError");
      expect(zero.code).toBe("VALIDATION");

      const below = await update(admin, orgId, link.id, { maxUses: 1 });
      expect(below.__typename).toBe("ValidationError");
      expect(below.code).toBe("VALIDATION");
      expect(await readLink(admin, orgId, link.id)).toMatchObject({ uses: 2, maxUses: 5, status: "ACTIVE" });

      // Exactly the current uses is allowed: the link is then used up.
      const equal = await update(admin, orgId, link.id, { maxUses: 2 });
      expect(equal.__typename).toBe("UpdateLinkInviteSuccess");
      expect(equal.linkInvite).toMatchObject({ uses: 2, maxUses: 2, status: "USED_UP" });
      expect(await joinAs("three", orgId, link.id)).toBe("InviteUsedUpError");
    });

    // Found by test/e2e/fuzz.test.ts: each of these was a masked crash ("Unexpected error.").
    it.each([
      ["an expiry in year 0 (before what PostgreSQL stores)", "0000-01-01T00:00:00Z"],
      ["an expiry that is year 0 in UTC", "0001-01-01T00:00:00+01:00"],
    ])("rejects %s with VALIDATION and changes nothing", async (_label, expiresAt) => {
      const { admin, orgId } = await setup();
      const link = await createOk(admin, orgId, { role: "READ" });

      const result = await update(admin, orgId, link.id, { expiresAt });

      expect(result).toMatchObject({ __typename: "ValidationError", code: "VALIDATION" });
      expect(await readLink(admin, orgId, link.id)).toEqual(link);
      // The first instant of year 1 is fine (a past expiry: the link is then EXPIRED).
      const first = await update(admin, orgId, link.id, { expiresAt: "0001-01-01T00:00:00Z" });
      expect(first.linkInvite).toMatchObject({ expiresAt: "0001-01-01T00:00:00.000Z", status: "EXPIRED" });
    });

    it.each([
      ["NUL", "abc\u0000"],
      ["a lone surrogate after a non-ASCII character", "\u3000\udfff"],
    ])("answers an inviteId with %s with VALIDATION (update and revoke)", async (_label, inviteId) => {
      const { admin, orgId } = await setup();

      expect(await update(admin, orgId, inviteId, { maxUses: 3 })).toMatchObject({ code: "VALIDATION" });
      expect(await revoke(admin, orgId, inviteId)).toMatchObject({ code: "VALIDATION" });
    });
  });

  describe("revokeLinkInvite", () => {
    it("revokes a link, which stays readable with status REVOKED; twice is harmless", async () => {
      const { admin, orgId } = await setup();
      const link = await createOk(admin, orgId, { role: "READ" });
      const before = Date.now();

      const result = await revoke(admin, orgId, link.id);

      expect(result.__typename).toBe("RevokeLinkInviteSuccess");
      expect(result.existed).toBe(true);
      expect(result.linkInvite).toMatchObject({ id: link.id, status: "REVOKED" });
      const revokedAt = result.linkInvite.revokedAt as string;
      expect(new Date(revokedAt).getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(new Date(revokedAt).getTime()).toBeLessThanOrEqual(Date.now() + 1000);

      expect(await readLink(admin, orgId, link.id)).toMatchObject({ id: link.id, status: "REVOKED", revokedAt });
      const listed = (await gqlOk(LINKS, { o: orgId }, admin.token)).organization.linkInvites;
      expect(listed.edges.map((e: { node: unknown }) => e.node)).toEqual([{ id: link.id, status: "REVOKED" }]);

      const again = await revoke(admin, orgId, link.id);
      expect(again.__typename).toBe("RevokeLinkInviteSuccess");
      expect(again.existed).toBe(true);
      expect(again.linkInvite).toMatchObject({ id: link.id, status: "REVOKED", revokedAt });
    });

    it("succeeds with existed false and no link for an unknown id", async () => {
      const { admin, orgId } = await setup();

      const result = await revoke(admin, orgId, "AAAAAAAAAAAAAAAAAAAAAA");

      expect(result).toEqual({ __typename: "RevokeLinkInviteSuccess", existed: false, linkInvite: null });
    });

    it("treats another organization's link as unknown and leaves it ACTIVE", async () => {
      const { admin, orgId } = await setup();
      const { admin: otherAdmin, orgId: otherId } = await setup();
      const theirs = await createOk(otherAdmin, otherId, { role: "READ" });

      const result = await revoke(admin, orgId, theirs.id);

      expect(result).toEqual({ __typename: "RevokeLinkInviteSuccess", existed: false, linkInvite: null });
      expect(await readLink(otherAdmin, otherId, theirs.id)).toMatchObject({ status: "ACTIVE", revokedAt: null });
    });
  });

  describe("organization.linkInvite(s)", () => {
    it("returns null from linkInvite for an unknown id", async () => {
      const { admin, orgId } = await setup();

      expect(await readLink(admin, orgId, "AAAAAAAAAAAAAAAAAAAAAA")).toBeNull();
    });

    it("pages newest first with first/after and counts them all", async () => {
      const { admin, orgId } = await setup();
      const ids: string[] = [];
      for (const role of ["READ", "COMMENT", "EDIT"]) ids.push((await createOk(admin, orgId, { role })).id);
      const [oldest, middle, newest] = ids;

      const page1 = (await gqlOk(LINKS, { o: orgId, first: 2 }, admin.token)).organization.linkInvites;
      expect(page1.totalCount).toBe(3);
      expect(page1.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([newest, middle]);
      expect(page1.pageInfo.hasNextPage).toBe(true);
      expect(page1.pageInfo.endCursor).toEqual(expect.any(String));

      const page2 = (await gqlOk(LINKS, { o: orgId, first: 2, after: page1.pageInfo.endCursor }, admin.token))
        .organization.linkInvites;
      expect(page2.totalCount).toBe(3);
      expect(page2.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([oldest]);
      expect(page2.pageInfo.hasNextPage).toBe(false);

      const all = (await gqlOk(LINKS, { o: orgId }, admin.token)).organization.linkInvites;
      expect(all.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([newest, middle, oldest]);
      const max = (await gqlOk(LINKS, { o: orgId, first: 1000 }, admin.token)).organization.linkInvites;
      expect(max.edges).toHaveLength(3);
    });

    it.each([1001, -1])("refuses first: %i with a top-level BAD_USER_INPUT error", async (first) => {
      const { admin, orgId } = await setup();

      const res = await app.current.gql(LINKS, { variables: { o: orgId, first }, token: admin.token });

      expect(res.errors?.length).toBeGreaterThan(0);
      expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(res.data?.organization ?? null).toBeNull();
    });

    it("is for admins only", async () => {
      const { admin, orgId } = await setup();
      const reader = await app.current.seed.user("reader");
      await app.current.seed.member(orgId, reader, "READ");
      const link = await createOk(admin, orgId, { role: "READ" });

      const list = await app.current.gql(LINKS, { variables: { o: orgId }, token: reader.token });
      expect(list.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      const one = await app.current.gql(ONE_LINK, { variables: { o: orgId, i: link.id }, token: reader.token });
      expect(one.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    });
  });
});
