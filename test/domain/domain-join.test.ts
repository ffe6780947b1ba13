/**
 * Join by email domain: admins set Organization.allowedDomains (updateOrganizationDomains); a
 * signed-in user whose verified email's domain matches one exactly joins as READ
 * (joinOrganizationByDomain), recorded as `member.joined_by_domain` in the same transaction.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createUserWithToken } from "../../src/domain/users.js";
import { type TestApp, type TestUser, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const UPDATE_DOMAINS = /* GraphQL */ `
  mutation ($o: ID!, $domains: [String!]!) {
    updateOrganizationDomains(organizationId: $o, domains: $domains) {
      __typename
      ... on Error { code message }
      ... on ValidationError { issues { path message } }
      ... on UpdateOrganizationDomainsSuccess { organization { id allowedDomains } }
    }
  }
`;
const JOIN_BY_DOMAIN = /* GraphQL */ `
  mutation ($o: ID!) {
    joinOrganizationByDomain(organizationId: $o) {
      __typename
      ... on Error { code message }
      ... on JoinOrganizationByDomainSuccess { member { role sso user { id email } organization { id } } }
    }
  }
`;
const DOMAINS = /* GraphQL */ `
  query ($o: ID!) { organization(id: $o) { id allowedDomains } }
`;

describe.each(DB_KINDS)("join by email domain (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  /** A domain of this test run only (the users table is shared by the tests of this file). */
  const freshDomain = () => `d${randomBytes(5).toString("hex")}.example.org`;
  let n = 0;
  async function userAt(domain: string, { verified = true } = {}): Promise<TestUser> {
    n += 1;
    const { user, token } = await createUserWithToken(a.db, { email: `person${n}@${domain}` });
    if (!verified) await a.db.user.update({ where: { id: user.id }, data: { emailVerified: false } });
    return { id: user.id, email: user.email as string, token };
  }
  async function orgAllowing(...domains: string[]) {
    const org = await a.seed.org();
    const res = await a.gql(UPDATE_DOMAINS, { variables: { o: org.id, domains }, token: org.owner.token });
    expect(res.errors).toBeUndefined();
    expect(res.data?.updateOrganizationDomains.__typename).toBe("UpdateOrganizationDomainsSuccess");
    return org;
  }
  const join = (orgId: string, user: TestUser) => a.gql(JOIN_BY_DOMAIN, { variables: { o: orgId }, token: user.token });
  const membership = (orgId: string, user: TestUser) =>
    a.db.member.findUnique({ where: { organizationId_userId: { organizationId: orgId, userId: user.id } } });

  it("an admin sets the domains: trimmed, lower-cased, deduplicated; [] clears them", async () => {
    const org = await a.seed.org();
    const res = await a.gql(UPDATE_DOMAINS, {
      variables: { o: org.id, domains: [" Example.COM ", "example.com", "sub.example.co.uk", "xn--bcher-kva.ch"] },
      token: org.owner.token,
    });
    expect(res.data?.updateOrganizationDomains).toEqual({
      __typename: "UpdateOrganizationDomainsSuccess",
      organization: { id: org.id, allowedDomains: ["example.com", "sub.example.co.uk", "xn--bcher-kva.ch"] },
    });
    const read = await a.gql(DOMAINS, { variables: { o: org.id }, token: org.owner.token });
    expect(read.data?.organization.allowedDomains).toEqual(["example.com", "sub.example.co.uk", "xn--bcher-kva.ch"]);
    const cleared = await a.gql(UPDATE_DOMAINS, { variables: { o: org.id, domains: [] }, token: org.owner.token });
    expect(cleared.data?.updateOrganizationDomains.organization.allowedDomains).toEqual([]);
  });

  it.each([
    ["not a host name", "not a domain"],
    ["an email", "a@example.com"],
    ["a URL", "https://example.com"],
    ["a wildcard", "*.example.com"],
    ["one label", "localhost"],
    ["an IPv4 address", "10.0.0.1"],
    ["a leading hyphen", "-example.com"],
    ["an empty label", "example..com"],
    ["a trailing dot", "example.com."],
    ["empty", "  "],
    ["a 64-character label", `${"a".repeat(64)}.com`],
  ])("a domain that is %s is a VALIDATION result and nothing is written", async (_what, bad) => {
    const org = await orgAllowing("keep.example.com");
    const res = await a.gql(UPDATE_DOMAINS, {
      variables: { o: org.id, domains: ["ok.example.com", bad] },
      token: org.owner.token,
    });
    expect(res.errors).toBeUndefined();
    expect(res.data?.updateOrganizationDomains).toMatchObject({
      __typename: "ValidationError",
      code: "VALIDATION",
      issues: [{ path: ["domains", "1"] }],
    });
    const row = await a.db.organization.findUniqueOrThrow({ where: { id: org.id } });
    expect(row.allowedDomains).toEqual(["keep.example.com"]);
  });

  it("more than 50 domains is a VALIDATION result", async () => {
    const org = await a.seed.org();
    const domains = Array.from({ length: 51 }, (_, i) => `d${i}.example.com`);
    const res = await a.gql(UPDATE_DOMAINS, { variables: { o: org.id, domains }, token: org.owner.token });
    expect(res.data?.updateOrganizationDomains.code).toBe("VALIDATION");
    expect((await a.db.organization.findUniqueOrThrow({ where: { id: org.id } })).allowedDomains).toEqual([]);
  });

  it("a member who is not an admin may neither update nor read the domains; a non-member is FORBIDDEN too", async () => {
    const org = await orgAllowing("secret.example.com");
    const editor = await a.seed.user("editor");
    await a.seed.member(org.id, editor, "EDIT");
    const outsider = await a.seed.user("outsider");
    for (const user of [editor, outsider]) {
      const update = await a.gql(UPDATE_DOMAINS, {
        variables: { o: org.id, domains: ["x.example.com"] },
        token: user.token,
      });
      expect(update.data).toBeNull();
      expect(update.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      const read = await a.gql(DOMAINS, { variables: { o: org.id }, token: user.token });
      expect(read.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
    const anonymous = await a.gql(UPDATE_DOMAINS, { variables: { o: org.id, domains: [] } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await a.db.organization.findUniqueOrThrow({ where: { id: org.id } })).allowedDomains).toEqual([
      "secret.example.com",
    ]);
  });

  it("a verified user of an allowed domain joins as READ, and the audit log records it", async () => {
    const domain = freshDomain();
    const org = await orgAllowing("other.example.net", domain.toUpperCase());
    const user = await userAt(domain);
    const res = await join(org.id, user);
    expect(res.errors).toBeUndefined();
    expect(res.data?.joinOrganizationByDomain).toEqual({
      __typename: "JoinOrganizationByDomainSuccess",
      member: { role: "READ", sso: false, user: { id: user.id, email: user.email }, organization: { id: org.id } },
    });
    expect((await membership(org.id, user))?.role).toBe("READ");
    const events = await a.db.auditEvent.findMany({ where: { organizationId: org.id } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: "member.joined_by_domain", targetId: user.id, actorId: user.id });
    const log = await a.gql(
      `query ($o: ID!) { organization(id: $o) { auditLog { edges { node { action targetId actor { id } } } } } }`,
      { variables: { o: org.id }, token: org.owner.token },
    );
    expect(log.data?.organization.auditLog.edges).toEqual([
      { node: { action: "member.joined_by_domain", targetId: user.id, actor: { id: user.id } } },
    ]);
  });

  it("an unverified email is DOMAIN_NOT_ALLOWED", async () => {
    const domain = freshDomain();
    const org = await orgAllowing(domain);
    const user = await userAt(domain, { verified: false });
    const res = await join(org.id, user);
    expect(res.data?.joinOrganizationByDomain).toMatchObject({
      __typename: "DomainNotAllowedError",
      code: "DOMAIN_NOT_ALLOWED",
    });
    expect(res.data?.joinOrganizationByDomain.message).toMatch(/verified/);
    expect(await membership(org.id, user)).toBeNull();
  });

  it("a subdomain, a parent domain or another domain is DOMAIN_NOT_ALLOWED, with nothing written", async () => {
    const domain = freshDomain();
    const org = await orgAllowing(domain);
    for (const user of [
      await userAt(`eng.${domain}`),
      await userAt(domain.slice(domain.indexOf(".") + 1)),
      await userAt(freshDomain()),
    ]) {
      const res = await join(org.id, user);
      expect(res.data?.joinOrganizationByDomain).toMatchObject({ code: "DOMAIN_NOT_ALLOWED" });
      expect(await membership(org.id, user)).toBeNull();
    }
    expect(await a.db.auditEvent.count({ where: { organizationId: org.id } })).toBe(0);
  });

  it("an organization without domains, or one that does not exist, answers the same DOMAIN_NOT_ALLOWED", async () => {
    const domain = freshDomain();
    const user = await userAt(domain);
    const withoutDomains = await a.seed.org();
    const none = await join(withoutDomains.id, user);
    const unknown = await join("00000000-0000-4000-8000-000000000000", user);
    expect(none.data?.joinOrganizationByDomain).toMatchObject({ code: "DOMAIN_NOT_ALLOWED" });
    expect(unknown.data?.joinOrganizationByDomain).toEqual(none.data?.joinOrganizationByDomain);
  });

  it("a member gets ALREADY_MEMBER (checked first) and keeps their role; anonymous is UNAUTHENTICATED", async () => {
    const domain = freshDomain();
    const org = await orgAllowing(domain);
    const editor = await userAt(domain);
    await a.seed.member(org.id, editor, "EDIT");
    const res = await join(org.id, editor);
    expect(res.data?.joinOrganizationByDomain).toMatchObject({ code: "ALREADY_MEMBER" });
    expect((await membership(org.id, editor))?.role).toBe("EDIT");
    // The owner's email is in another domain: still ALREADY_MEMBER, not DOMAIN_NOT_ALLOWED.
    expect((await join(org.id, org.owner)).data?.joinOrganizationByDomain).toMatchObject({ code: "ALREADY_MEMBER" });
    const anonymous = await a.gql(JOIN_BY_DOMAIN, { variables: { o: org.id } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("concurrent joins of the same user make one membership and one audit event", async () => {
    const domain = freshDomain();
    const org = await orgAllowing(domain);
    const user = await userAt(domain);
    const results = await Promise.all(Array.from({ length: 6 }, () => join(org.id, user)));
    const types = results.map((r) => r.data?.joinOrganizationByDomain.__typename ?? JSON.stringify(r.errors));
    expect(types.filter((t) => t === "JoinOrganizationByDomainSuccess")).toHaveLength(1);
    expect(types.filter((t) => t === "AlreadyMemberError")).toHaveLength(5);
    expect(await a.db.member.count({ where: { organizationId: org.id, userId: user.id } })).toBe(1);
    expect(await a.db.auditEvent.count({ where: { organizationId: org.id, action: "member.joined_by_domain" } })).toBe(
      1,
    );
  });
});
