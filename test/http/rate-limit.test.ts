import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createToken, revokeToken } from "../../src/domain/users.js";
import { createGraphQLHandler, type Yoga } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { createTestApp, type TestApp, type TestUser, useTestApp } from "../helpers/app.js";

/** Redis tests need a server: `.ci/run` sets TEST_REDIS_URL (Redis on 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL;

type Body = {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

async function post(yoga: Yoga, query: string, headers: Record<string, string> = {}) {
  const response = await yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Body };
}

const bearer = (user: TestUser) => ({ authorization: `Bearer ${user.token}` });

describe("RATE_LIMIT_PER_MINUTE, counted in memory (no REDIS_URL)", () => {
  const app = useTestApp("pglite", { RATE_LIMIT_PER_MINUTE: "5" });

  it("lets a caller send the limit, then answers 429 RATE_LIMITED with Retry-After", async () => {
    const alice = await app.current.seed.user("alice");
    for (let i = 0; i < 5; i++) {
      const res = await post(app.current.yoga, "{ viewer { id } }", bearer(alice));
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ viewer: { id: alice.id } });
    }
    const refused = await post(app.current.yoga, "{ viewer { id } }", bearer(alice));
    expect(refused.status).toBe(429);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(refused.body.errors?.[0]?.message).toMatch(/at most 5 a minute/);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("ratelimit-limit")).toBe("5");
    expect(refused.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("counts each caller on its own: another token and anonymous callers are not refused", async () => {
    const bob = await app.current.seed.user("bob");
    const carol = await app.current.seed.user("carol");
    for (let i = 0; i < 6; i++) await post(app.current.yoga, "{ __typename }", bearer(bob));
    expect((await post(app.current.yoga, "{ __typename }", bearer(bob))).status).toBe(429);
    expect((await post(app.current.yoga, "{ viewer { id } }", bearer(carol))).status).toBe(200);
  });

  it("refuses a mutation past the limit before it runs: nothing is written", async () => {
    const dave = await app.current.seed.user("dave");
    const org = await app.current.seed.org(dave);
    const invite = `mutation { inviteUsersToOrganization(organizationId: "${org.id}", input: { emails: ["x-${randomBytes(4).toString("hex")}@example.com"] }) { __typename } }`;
    for (let i = 0; i < 5; i++) await post(app.current.yoga, "{ __typename }", bearer(dave));
    const refused = await post(app.current.yoga, invite, bearer(dave));
    expect(refused.status).toBe(429);
    expect(await app.current.db.invite.count({ where: { organizationId: org.id } })).toBe(0);
  });

  it("counts one token as one caller however its header is spelled", async () => {
    const erin = await app.current.seed.user("erin");
    const spellings = [
      `Bearer ${erin.token}`,
      `bearer ${erin.token}`,
      `BEARER  ${erin.token}`,
      `Bearer\t${erin.token}`,
      `Bearer ${erin.token} `,
      `bEaReR   ${erin.token}`,
    ];
    const statuses: number[] = [];
    for (const authorization of spellings) {
      const res = await post(app.current.yoga, "{ viewer { id } }", { authorization });
      statuses.push(res.status);
      if (res.status === 200) expect(res.body.data).toEqual({ viewer: { id: erin.id } });
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it("limits a flood of bad tokens too, without looking each one up", async () => {
    const header = { authorization: "Bearer igw_not-a-real-token" };
    for (let i = 0; i < 5; i++) {
      const res = await post(app.current.yoga, "{ __typename }", header);
      expect(res.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
    const { count, result } = await app.current.countQueries(() => post(app.current.yoga, "{ __typename }", header));
    expect(result.status).toBe(429);
    expect(count).toBe(0);
  });
});

describe("TRUST_PROXY", () => {
  let trusting: TestApp;
  let direct: TestApp;
  beforeAll(async () => {
    trusting = await createTestApp("pglite", { RATE_LIMIT_PER_MINUTE: "2", TRUST_PROXY: "true" });
    direct = await createTestApp("pglite", { RATE_LIMIT_PER_MINUTE: "2" });
  });
  afterAll(async () => {
    await trusting?.close();
    await direct?.close();
  });

  it("counts anonymous callers by the address the proxy appended, only when told to trust it", async () => {
    const from = (address: string) => ({ "x-forwarded-for": `203.0.113.99, ${address}` });
    for (const app of [trusting, direct]) {
      for (let i = 0; i < 2; i++) await post(app.yoga, "{ __typename }", from("198.51.100.1"));
    }
    // Behind a trusted proxy, another client has its own count; without trust, the header is ignored.
    expect((await post(trusting.yoga, "{ __typename }", from("198.51.100.2"))).status).toBe(200);
    expect((await post(trusting.yoga, "{ __typename }", from("198.51.100.1"))).status).toBe(429);
    expect((await post(direct.yoga, "{ __typename }", from("198.51.100.2"))).status).toBe(429);
  });
});

describe("RATE_LIMIT_PER_MINUTE=0", () => {
  const app = useTestApp("pglite", { RATE_LIMIT_PER_MINUTE: "0" });

  it("turns the request rate limit off", async () => {
    const user = await app.current.seed.user();
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () => post(app.current.yoga, "{ __typename }", bearer(user)).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([200]));
  });
});

describe.skipIf(!REDIS_URL)("RATE_LIMIT_PER_MINUTE counted in Redis (REDIS_URL)", () => {
  const prefix = `igw-test-${randomBytes(6).toString("hex")}`;
  const app = useTestApp("pglite", {
    RATE_LIMIT_PER_MINUTE: "6",
    REDIS_URL: REDIS_URL ?? "",
    REDIS_KEY_PREFIX: prefix,
  });

  it("shares one count between two handlers (replicas) on one Redis", async () => {
    const second = createGraphQLHandler({
      db: app.current.db,
      config: app.current.testDb.config,
      logger: createLogger("silent"),
    });
    try {
      const user = await app.current.seed.user();
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const yoga = i % 2 === 0 ? app.current.yoga : second;
        statuses.push((await post(yoga, "{ __typename }", bearer(user))).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
    } finally {
      await second.dispose();
    }
  });

  it("keeps serving, counting in memory, when Redis cannot be reached", async () => {
    const config = loadConfig({
      ...process.env,
      NODE_ENV: "test",
      DATA_DIR: "memory://",
      RATE_LIMIT_PER_MINUTE: "3",
      // Nothing listens on port 1: every Redis call fails at once.
      REDIS_URL: "redis://127.0.0.1:1",
      REDIS_KEY_PREFIX: prefix,
    });
    const yoga = createGraphQLHandler({ db: app.current.db, config, logger: createLogger("silent") });
    try {
      const user = await app.current.seed.user();
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await post(yoga, "{ viewer { id } }", bearer(user))).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await yoga.dispose();
    }
  });
});

/**
 * A caller is a valid credential, or the client address: a token that fails verification counts
 * against the address, so a fresh random token per request is no fresh budget; a valid token keeps
 * its own budget, also from an address that bad tokens have used up (a shared proxy).
 */
const signingKey = await generateKeyPair("ES256", { extractable: true });
const forger = await generateKeyPair("ES256", { extractable: true });
const JWT_ENV = {
  JWT_PUBLIC_KEY: (await exportSPKI(signingKey.publicKey)).replace(/\n/g, "\\n"),
  JWT_ISSUER: "https://idp.example.com/",
  JWT_AUDIENCE: "invites-gateway",
};
const countings: Array<[string, Record<string, string>]> = [["in memory", {}]];
if (REDIS_URL) {
  const prefix = `igw-test-${randomBytes(6).toString("hex")}`;
  countings.push(["in Redis", { REDIS_URL, REDIS_KEY_PREFIX: prefix }]);
}

describe.each(countings)("failed credentials count against the client address (%s)", (_name, counting) => {
  const app = useTestApp("pglite", { RATE_LIMIT_PER_MINUTE: "3", TRUST_PROXY: "true", ...JWT_ENV, ...counting });
  let address = 0;
  /** A client address of its own for each test (the proxy appends it to X-Forwarded-For). */
  const newAddress = () => ({ "x-forwarded-for": `198.51.100.${++address}` });
  const freshToken = () => ({ authorization: `Bearer igw_${randomBytes(32).toString("base64url")}` });
  const v1 = async (path: string, headers: Record<string, string>) => {
    const response = await app.current.yoga.fetch(`http://localhost/v1${path}`, { headers });
    return { status: response.status, body: (await response.json()) as { error?: { reason?: string } } };
  };

  it("answers a fresh random token per request 401 up to the limit, then 429 (/graphql)", async () => {
    const from = newAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(app.current.yoga, "{ __typename }", { ...from, ...freshToken() });
      statuses.push(res.status);
      expect(res.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
    const refused = await post(app.current.yoga, "{ __typename }", { ...from, ...freshToken() });
    expect([...statuses, refused.status]).toEqual([401, 401, 401, 429]);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // The address's budget: anonymous requests from it are refused too; another address is not.
    expect((await post(app.current.yoga, "{ __typename }", from)).status).toBe(429);
    expect((await post(app.current.yoga, "{ __typename }", newAddress())).status).toBe(200);
  });

  it("counts each /v1 request with a failed token once against the address, then 429 in the error shape", async () => {
    const from = newAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await v1("/orgs/some-org/link-invites", { ...from, ...freshToken() })).status);
    const refused = await v1("/orgs/some-org/link-invites", { ...from, ...freshToken() });
    expect([...statuses, refused.status]).toEqual([401, 401, 401, 429]);
    expect(refused.body.error?.reason).toBe("RATE_LIMITED");
    // Also the /v1 requests answered without GraphQL, and /graphql: one budget for the address.
    expect((await v1("/no-such-route", { ...from, ...freshToken() })).status).toBe(429);
    expect((await post(app.current.yoga, "{ __typename }", { ...from, ...freshToken() })).status).toBe(429);
  });

  it("counts every kind of failed credential: revoked, expired, forged JWT, malformed header", async () => {
    const from = newAddress();
    const revoked = await app.current.seed.user("revoked");
    await revokeToken(app.current.db, revoked.token);
    const expired = await createToken(
      app.current.db,
      { email: (await app.current.seed.user("expired")).email, expiresInMs: 1_000 },
      new Date(Date.now() - 60_000),
    );
    const forged = await new SignJWT({ sub: "forged" })
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer(JWT_ENV.JWT_ISSUER)
      .setAudience(JWT_ENV.JWT_AUDIENCE)
      .setExpirationTime("5m")
      .sign(forger.privateKey);
    const statuses: number[] = [];
    for (const authorization of [
      `Bearer ${revoked.token}`,
      `Bearer ${expired.token}`,
      `Bearer ${forged}`,
      "Basic YTpi",
    ]) {
      statuses.push((await post(app.current.yoga, "{ __typename }", { ...from, authorization })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it("keeps serving a valid token from an address that bad tokens have used up, on the token's own budget", async () => {
    const from = newAddress();
    const alice = await app.current.seed.user("alice");
    const org = await app.current.seed.org(alice);
    for (let i = 0; i < 3; i++) await post(app.current.yoga, "{ __typename }", { ...from, ...freshToken() });
    expect((await post(app.current.yoga, "{ __typename }", { ...from, ...freshToken() })).status).toBe(429);

    const asAlice = { ...from, ...bearer(alice) };
    const first = await post(app.current.yoga, "{ viewer { id } }", asAlice);
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual({ viewer: { id: alice.id } });
    expect((await v1(`/orgs/${org.id}/link-invites`, asAlice)).status).toBe(200);
    expect((await post(app.current.yoga, "{ viewer { id } }", asAlice)).status).toBe(200);
    // Past its own limit, the token is refused like any caller.
    expect((await post(app.current.yoga, "{ viewer { id } }", asAlice)).status).toBe(429);
  });

  it("does not count a valid token's requests against its address", async () => {
    const from = newAddress();
    const bob = await app.current.seed.user("bob");
    for (let i = 0; i < 3; i++)
      expect((await post(app.current.yoga, "{ __typename }", { ...from, ...bearer(bob) })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(app.current.yoga, "{ __typename }", from)).status);
    expect(statuses).toEqual([200, 200, 200]);
  });

  it("still limits one bad token sent again and again, past the limit without looking it up", async () => {
    const from = newAddress();
    const bad = freshToken();
    for (let i = 0; i < 3; i++)
      expect((await post(app.current.yoga, "{ __typename }", { ...from, ...bad })).status).toBe(401);
    // From another address too: the token's own count is spent.
    const { count, result } = await app.current.countQueries(() =>
      post(app.current.yoga, "{ __typename }", { ...newAddress(), ...bad }),
    );
    expect(result.status).toBe(429);
    expect(count).toBe(0);
  });

  it("takes the address from the socket (no proxy header): fresh bad tokens get 429 after the limit", async () => {
    const server = createServer(app.current.yoga);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...freshToken() },
          body: JSON.stringify({ query: "{ __typename }" }),
        });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
