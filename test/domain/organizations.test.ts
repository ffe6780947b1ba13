import { describe, expect, it } from "vitest";
import { createOrganizationForEmail } from "../../src/domain/organizations.js";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const CREATE_ORGANIZATION = /* GraphQL */ `
  mutation ($title: String!) {
    createOrganization(input: { title: $title }) {
      __typename
      ... on Error { code message }
      ... on CreateOrganizationSuccess {
        organization {
          id
          title
          createdAt
          viewerRole
          members { totalCount edges { node { role sso user { id email } } } }
        }
      }
    }
  }
`;

const ORGANIZATION = /* GraphQL */ `
  query ($id: ID!) {
    organization(id: $id) { id title viewerRole members { totalCount } }
  }
`;

describe.each(DB_KINDS)("createOrganization (%s)", (kind) => {
  const app = useTestApp(kind);

  async function counts() {
    const { db } = app.current;
    return { organizations: await db.organization.count(), members: await db.member.count() };
  }

  it("creates the organization with the caller as its only member, an ADMIN", async () => {
    const alice = await app.current.seed.user("alice");
    const before = Date.now();

    const res = await app.current.gql(CREATE_ORGANIZATION, { variables: { title: "Acme Corp" }, token: alice.token });

    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    const result = res.data?.createOrganization;
    expect(result.__typename).toBe("CreateOrganizationSuccess");
    const org = result.organization;
    expect(org.title).toBe("Acme Corp");
    expect(org.viewerRole).toBe("ADMIN");
    expect(org.members.totalCount).toBe(1);
    expect(org.members.edges).toEqual([
      { node: { role: "ADMIN", sso: false, user: { id: alice.id, email: alice.email } } },
    ]);
    expect(new Date(org.createdAt).getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(org.createdAt).toMatch(/Z$/);

    // Persisted: the creator can read it back, and the database holds exactly one ADMIN row.
    const read = await app.current.gql(ORGANIZATION, { variables: { id: org.id }, token: alice.token });
    expect(read.errors).toBeUndefined();
    expect(read.data?.organization).toEqual({
      id: org.id,
      title: "Acme Corp",
      viewerRole: "ADMIN",
      members: { totalCount: 1 },
    });
    const rows = await app.current.db.member.findMany({ where: { organizationId: org.id } });
    expect(rows.map((m) => ({ userId: m.userId, role: m.role }))).toEqual([{ userId: alice.id, role: "ADMIN" }]);
  });

  it("trims the title and accepts exactly 200 characters", async () => {
    const alice = await app.current.seed.user("alice");

    const trimmed = await app.current.gql(CREATE_ORGANIZATION, {
      variables: { title: "  Spaced Out \t" },
      token: alice.token,
    });
    expect(trimmed.data?.createOrganization.__typename).toBe("CreateOrganizationSuccess");
    expect(trimmed.data?.createOrganization.organization.title).toBe("Spaced Out");

    const longest = "x".repeat(200);
    const long = await app.current.gql(CREATE_ORGANIZATION, { variables: { title: longest }, token: alice.token });
    expect(long.data?.createOrganization.__typename).toBe("CreateOrganizationSuccess");
    expect(long.data?.createOrganization.organization.title).toBe(longest);
  });

  it.each([
    ["empty", ""],
    ["whitespace-only", "   \t  "],
    ["over 200 characters", "x".repeat(201)],
    // Found by test/e2e/fuzz.test.ts: PostgreSQL text cannot hold NUL (was a masked crash); a lone
    // surrogate is not Unicode (PGlite failed to encode some; PostgreSQL stored U+FFFD instead).
    ["NUL-containing", "Acme\u0000Corp"],
    ["lone-surrogate", "Acme \ud800"],
    ["non-ASCII then lone-surrogate", "Café\udfff"],
    // Control characters (issue 12, finding 6): a line break in a title became a line of its own in
    // the text part of the invite email. Inside the title: around it, whitespace is trimmed first.
    ["CR LF (header injection)", "Acme\r\nBcc: evil@evil.com\r\nX-Injected: yes"],
    ["LF-containing", "Acme\nCorp"],
    ["CR-containing", "Acme\rCorp"],
    ["TAB-containing", "Acme\tCorp"],
    ["vertical-tab and form-feed", "Acme\u000b\u000cCorp"],
    ["ESC (terminal escape)", "Acme\u001b[31mCorp"],
    ["BEL-containing", "Acme\u0007"],
    ["DEL-containing", "Acme\u007fCorp"],
    ["NEL (C1 line break)", "Acme\u0085Corp"],
    ["CSI (C1 control)", "Acme\u009bCorp"],
    ["line separator", "Acme\u2028Corp"],
    ["paragraph separator", "Acme\u2029Corp"],
    ["right-to-left override", "Acme\u202Egpj.exe"],
    ["left-to-right embedding", "Acme\u202ACorp"],
    ["first-strong isolate", "Acme\u2068Corp\u2069"],
  ])("rejects an %s title with VALIDATION and writes nothing", async (_label, title) => {
    const alice = await app.current.seed.user("alice");
    const before = await counts();

    const res = await app.current.gql(CREATE_ORGANIZATION, { variables: { title }, token: alice.token });

    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data?.createOrganization.__typename).toBe("ValidationError");
    expect(res.data?.createOrganization.code).toBe("VALIDATION");
    expect(res.data?.createOrganization.message).toEqual(expect.any(String));
    expect(await counts()).toEqual(before);
    expect(await app.current.db.member.count({ where: { userId: alice.id } })).toBe(0);
  });

  it("accepts right-to-left text with its bidi marks, and emoji with joiners", async () => {
    const alice = await app.current.seed.user("alice");
    for (const title of ["שלום\u200F Acme", "شركة\u061C 42", "👩\u200D💻 Team", "Café Zoë"]) {
      const res = await app.current.gql(CREATE_ORGANIZATION, { variables: { title }, token: alice.token });
      expect(res.data?.createOrganization.__typename, title).toBe("CreateOrganizationSuccess");
      expect(res.data?.createOrganization.organization.title).toBe(title);
    }
  });

  it("refuses an anonymous caller with UNAUTHENTICATED and writes nothing", async () => {
    const before = await counts();

    const res = await app.current.gql(CREATE_ORGANIZATION, { variables: { title: "Nobody's" } });

    expect(res.data?.createOrganization ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(await counts()).toEqual(before);
  });
});

/**
 * ORG_CREATE_LIMIT_PER_DAY (issue 12, finding 5): anyone may create organizations (and send invites
 * from each), so one user may create only so many a day; the operator's CLI is not limited.
 */
describe.each(DB_KINDS)("createOrganization daily limit per user (%s)", (kind) => {
  const LIMIT = 3;
  const app = useTestApp(kind, { ORG_CREATE_LIMIT_PER_DAY: String(LIMIT) });
  const create = (token: string, title = "Limited") =>
    app.current.gql(CREATE_ORGANIZATION, { variables: { title }, token });
  const owned = (userId: string) => app.current.db.member.count({ where: { userId, role: "ADMIN" } });

  it("creates LIMIT a day, then answers RATE_LIMITED and writes nothing; a VALIDATION failure uses none", async () => {
    const alice = await app.current.seed.user("limited");
    const invalid = await create(alice.token, "Bad\ntitle");
    expect(invalid.data?.createOrganization.code).toBe("VALIDATION");
    for (let i = 0; i < LIMIT; i++) {
      const res = await create(alice.token, `Org ${i}`);
      expect(res.data?.createOrganization.__typename, JSON.stringify(res)).toBe("CreateOrganizationSuccess");
    }
    const organizations = await app.current.db.organization.count();
    const refused = await create(alice.token, "One too many");
    expect(refused.errors).toBeUndefined();
    expect(refused.data?.createOrganization).toEqual({
      __typename: "RateLimitedError",
      code: "RATE_LIMITED",
      message: expect.stringMatching(/3 organizations a day/),
    });
    expect(await app.current.db.organization.count()).toBe(organizations);
    expect(await owned(alice.id)).toBe(LIMIT);

    // Per user: someone else still may.
    const bob = await app.current.seed.user("unlimited-bob");
    expect((await create(bob.token)).data?.createOrganization.__typename).toBe("CreateOrganizationSuccess");
    // The operator's path is not limited.
    const org = await createOrganizationForEmail(app.current.db, { title: "By the operator", ownerEmail: alice.email });
    expect(org.ownerId).toBe(alice.id);
    expect(await owned(alice.id)).toBe(LIMIT + 1);
  });

  it("counts per UTC day: a full quota yesterday does not limit today", async () => {
    const carol = await app.current.seed.user("yesterday");
    const yesterday = new Date(`${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T00:00:00Z`);
    await app.current.db.orgCreationQuota.create({ data: { userId: carol.id, day: yesterday, count: LIMIT } });
    expect((await create(carol.token)).data?.createOrganization.__typename).toBe("CreateOrganizationSuccess");
    expect(
      await app.current.db.orgCreationQuota.findMany({ where: { userId: carol.id }, orderBy: { day: "asc" } }),
    ).toEqual([
      { userId: carol.id, day: yesterday, count: LIMIT },
      { userId: carol.id, day: expect.any(Date), count: 1 },
    ]);
  });

  it("holds under concurrent calls: exactly LIMIT of 10 succeed, the others are RATE_LIMITED", async () => {
    const dave = await app.current.seed.user("concurrent");
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => create(dave.token, `Race ${i}`)));
    const kinds = results.map((r) => r.data?.createOrganization.__typename ?? JSON.stringify(r.errors));
    expect(kinds.filter((k) => k === "CreateOrganizationSuccess")).toHaveLength(LIMIT);
    expect(kinds.filter((k) => k === "RateLimitedError")).toHaveLength(10 - LIMIT);
    expect(await owned(dave.id)).toBe(LIMIT);
  });
});

describe.each(DB_KINDS)("createOrganization with ORG_CREATE_LIMIT_PER_DAY=0 (%s)", (kind) => {
  const app = useTestApp(kind, { ORG_CREATE_LIMIT_PER_DAY: "0" });

  it("does not limit (more than the default of 10 a day)", async () => {
    const erin = await app.current.seed.user("no-limit");
    for (let i = 0; i < 11; i++) {
      const res = await app.current.gql(CREATE_ORGANIZATION, { variables: { title: `Free ${i}` }, token: erin.token });
      expect(res.data?.createOrganization.__typename).toBe("CreateOrganizationSuccess");
    }
    expect(await app.current.db.orgCreationQuota.count()).toBe(0);
  });
});
