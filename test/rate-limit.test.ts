import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { createGraphQLHandler, type Yoga } from "../src/yoga.js";
import { createTestApp, type TestApp, type TestUser, useTestApp } from "./helpers/app.js";

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
