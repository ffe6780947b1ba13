/**
 * Subscription.organizationEvents over SSE on a real socket: an admin's subscriber sees the
 * organization's audit events as they commit (published by the outbox relay), nothing of other
 * organizations; non-admins are refused when they subscribe, and a subscriber who loses access is
 * refused before the next event or, with no event, at the next periodic recheck. Single process
 * without Redis here (PGlite, and PostgreSQL when TEST_DATABASE_URL is set); across two replicas
 * through Redis below.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken, revokeToken } from "../../src/domain/users.js";
import type { Events } from "../../src/events/service.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { createTestApp, type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS, openTestDatabase, type TestDatabase } from "../helpers/db.js";
import { type ServedApp, serveWithEvents } from "../helpers/events.js";
import { subscribe } from "../helpers/sse.js";
import { until } from "../helpers/wait.js";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails }) {
      __typename ... on InviteUsersToOrganizationSuccess { invites { id } }
    }
  }
`;
const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!) {
    createLinkInvite(organizationId: $o, input: { role: READ }) {
      __typename ... on CreateLinkInviteSuccess { linkInvite { id } }
    }
  }
`;

async function post(baseUrl: string, query: string, variables: Record<string, unknown>, token: string) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: unknown[] };
}

describe.each(DB_KINDS)("organizationEvents in one process, no Redis (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  let served: ServedApp;
  let events: Events;
  let url: string;
  beforeAll(async () => {
    a = app.current;
    served = await serveWithEvents(a);
    ({ events, url } = served);
  });
  afterAll(async () => {
    await served?.close();
  });

  it("an admin sees the organization's events as they commit, and none of another organization", async () => {
    const admin = await a.seed.user("sub-admin");
    const org = await a.seed.org(admin, "Subscribed");
    const other = await a.seed.org(admin, "Other");
    const sub = await subscribe(url, admin.token, org.id);
    try {
      expect(sub.status).toBe(200);
      expect(sub.contentType).toContain("text/event-stream");
      await until("the subscription to start", () => events.bus.subscriptions() === 1);
      expect((await post(url, CREATE_LINK, { o: other.id }, admin.token)).errors).toBeUndefined();
      const invited = await post(url, INVITE, { o: org.id, emails: [uniqueEmail("sub")] }, admin.token);
      const inviteId = invited.data.inviteUsersToOrganization.invites[0].id as string;
      const message = await sub.next();
      const audit = await a.db.auditEvent.findFirstOrThrow({ where: { organizationId: org.id } });
      expect(message).toEqual({
        event: "next",
        data: {
          data: {
            organizationEvents: {
              id: audit.id,
              action: "invite.created",
              targetId: inviteId,
              createdAt: audit.createdAt.toISOString(),
              actor: { id: admin.id },
            },
          },
        },
      });
      const link = await post(url, CREATE_LINK, { o: org.id }, admin.token);
      const second = await sub.next();
      expect(second?.data.data.organizationEvents).toMatchObject({
        action: "link.created",
        targetId: link.data.createLinkInvite.linkInvite.id,
      });
    } finally {
      sub.close();
    }
    await until("the subscription to end", () => events.bus.subscriptions() === 0);
  });

  // A subscription is one request that lasts hours: the viewer is checked again, on fresh rows,
  // before each event.
  it.each([
    ["demoted to READ", "FORBIDDEN"],
    ["removed from the organization", "FORBIDDEN"],
    ["whose API token is revoked", "UNAUTHENTICATED"],
  ] as const)("ends the stream of an admin %s: the next event is not delivered (%s)", async (change, code) => {
    const owner = await a.seed.user("sub-owner");
    const org = await a.seed.org(owner, "Rechecked");
    const watcher = await a.seed.user("sub-watcher");
    await a.seed.member(org.id, watcher, "ADMIN");
    const sub = await subscribe(url, watcher.token, org.id);
    try {
      await until("the subscription to start", () => events.bus.subscriptions() === 1);
      await post(url, INVITE, { o: org.id, emails: [uniqueEmail("before")] }, owner.token);
      expect((await sub.next())?.data.data.organizationEvents.action).toBe("invite.created");
      const where = { organizationId_userId: { organizationId: org.id, userId: watcher.id } };
      if (change === "demoted to READ") await a.db.member.update({ where, data: { role: "READ" } });
      else if (change === "removed from the organization") await a.db.member.delete({ where });
      else await revokeToken(a.db, watcher.token);
      const after = await post(url, INVITE, { o: org.id, emails: [uniqueEmail("after")] }, owner.token);
      expect(after.errors).toBeUndefined();
      const refused = await sub.next();
      expect(refused?.event).toBe("next");
      expect(refused?.data.data ?? null).toBeNull();
      expect(refused?.data.errors?.[0]?.extensions?.code).toBe(code);
      const last = await sub.next();
      expect(last === null || last.event === "complete").toBe(true);
      await until("the subscription to end", () => events.bus.subscriptions() === 0);
    } finally {
      sub.close();
    }
  });

  it("refuses a member who is not an admin (FORBIDDEN) and an anonymous caller (UNAUTHENTICATED)", async () => {
    const admin = await a.seed.user("sub-owner");
    const org = await a.seed.org(admin, "Guarded");
    const reader = await a.seed.user("sub-reader");
    await a.seed.member(org.id, reader, "READ");
    for (const [token, code] of [
      [reader.token, "FORBIDDEN"],
      [null, "UNAUTHENTICATED"],
    ] as const) {
      const sub = await subscribe(url, token, org.id);
      try {
        const message = await sub.next();
        expect(message?.data.data ?? null).toBeNull();
        expect(message?.data.errors?.[0]?.extensions?.code).toBe(code);
        expect(events.bus.subscriptions()).toBe(0);
      } finally {
        sub.close();
      }
    }
  });
});

// A stream that receives no event is checked too, every SUBSCRIPTION_RECHECK_INTERVAL (short here).
describe.each(DB_KINDS)("organizationEvents rechecked between events (%s)", (kind) => {
  const RECHECK_MS = 200;
  const app = useTestApp(kind, { SUBSCRIPTION_RECHECK_INTERVAL: `${RECHECK_MS}ms` });
  let a: TestApp;
  let served: ServedApp;
  beforeAll(async () => {
    a = app.current;
    served = await serveWithEvents(a);
  });
  afterAll(async () => {
    await served?.close();
  });

  /** Counts the subscriber checks' statements (subscriberRefusal reads Member and ApiToken rows). */
  function countRechecks() {
    let count = 0;
    const off = a.testDb.database.onQuery((sql) => {
      if (/"(Member|ApiToken)"/.test(sql)) count += 1;
    });
    return {
      count: () => count,
      reset: () => {
        count = 0;
      },
      off,
    };
  }

  /** No check runs any more: waits out a check in flight, then several intervals without one. */
  async function expectNoMoreRechecks() {
    await sleep(2 * RECHECK_MS);
    const rechecks = countRechecks();
    try {
      await sleep(5 * RECHECK_MS);
      expect(rechecks.count()).toBe(0);
    } finally {
      rechecks.off();
    }
  }

  async function watchedOrg() {
    const owner = await a.seed.user("recheck-owner");
    const org = await a.seed.org(owner, "Idle");
    const watcher = await a.seed.user("recheck-watcher");
    await a.seed.member(org.id, watcher, "ADMIN");
    return { org, watcher };
  }

  it.each([
    ["demoted to READ", "FORBIDDEN", "You are no longer an admin of this organization"],
    ["whose API token is revoked", "UNAUTHENTICATED", "Your credential was revoked or has expired"],
  ] as const)("ends the idle stream of an admin %s with %s, no event published", async (change, code, message) => {
    const { org, watcher } = await watchedOrg();
    const sub = await subscribe(served.url, watcher.token, org.id);
    try {
      await until("the subscription to start", () => served.events.bus.subscriptions() === 1);
      if (change === "demoted to READ") {
        await a.db.member.update({
          where: { organizationId_userId: { organizationId: org.id, userId: watcher.id } },
          data: { role: "READ" },
        });
      } else await revokeToken(a.db, watcher.token);
      const refused = await sub.next();
      expect(refused).toEqual({
        event: "next",
        data: {
          data: null,
          errors: [{ message, path: ["organizationEvents"], locations: expect.any(Array), extensions: { code } }],
        },
      });
      const last = await sub.next();
      expect(last === null || last.event === "complete").toBe(true);
      expect(await a.db.outboxEvent.count({ where: { organizationId: org.id } })).toBe(0);
      await until("the subscription to end", () => served.events.bus.subscriptions() === 0);
      await expectNoMoreRechecks();
    } finally {
      sub.close();
    }
  });

  it("stops checking once the client disconnects (the timer is cleared)", async () => {
    const { org, watcher } = await watchedOrg();
    const sub = await subscribe(served.url, watcher.token, org.id);
    const rechecks = countRechecks();
    try {
      await until("the subscription to start", () => served.events.bus.subscriptions() === 1);
      rechecks.reset();
      // Each check reads the membership and the token: two checks at least while connected.
      await until("two rechecks", () => rechecks.count() >= 4);
    } finally {
      rechecks.off();
      sub.close();
    }
    await until("the subscription to end", () => served.events.bus.subscriptions() === 0);
    await expectNoMoreRechecks();
  });
});

// A check that fails (here PostgreSQL's statement timeout, the Member table being locked) does not
// end the stream: it is logged, and the next tick checks again.
describe.skipIf(!process.env.TEST_DATABASE_URL)("organizationEvents when a recheck fails (postgres)", () => {
  it("keeps the stream open, logs the failure and checks again at the next tick", async () => {
    const lines: string[] = [];
    const a = await createTestApp("postgres", { SUBSCRIPTION_RECHECK_INTERVAL: "200ms", DB_STATEMENT_TIMEOUT: "1s" });
    const served = await serveWithEvents(a, createLogger("warn", { write: (line: string) => void lines.push(line) }));
    const locker = new pg.Client({ connectionString: a.testDb.url as string });
    const owner = await a.seed.user("failing-owner");
    const org = await a.seed.org(owner, "Locked");
    const watcher = await a.seed.user("failing-watcher");
    await a.seed.member(org.id, watcher, "ADMIN");
    const sub = await subscribe(served.url, watcher.token, org.id);
    try {
      await until("the subscription to start", () => served.events.bus.subscriptions() === 1);
      await locker.connect();
      await locker.query("BEGIN");
      await locker.query('LOCK TABLE "Member" IN ACCESS EXCLUSIVE MODE');
      await until("a recheck to fail", () => lines.some((line) => line.includes("access recheck failed")));
      // Demoted while the checks fail: the first check after the lock is gone ends the stream.
      await locker.query(`UPDATE "Member" SET role = 'READ' WHERE "organizationId" = $1 AND "userId" = $2`, [
        org.id,
        watcher.id,
      ]);
      await locker.query("COMMIT");
      const refused = await sub.next();
      expect(refused?.data.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    } finally {
      sub.close();
      await locker.end();
      await served.close();
      await a.close();
    }
  });
});

describe("organizationEvents for a JWT caller (pglite)", () => {
  it("ends the stream once the JWT's exp has passed, and not while it is valid", async () => {
    const key = await generateKeyPair("ES256", { extractable: true });
    const [issuer, audience] = ["https://idp.example.com/", "invites-gateway"];
    const pem = (await exportSPKI(key.publicKey)).replace(/\n/g, "\\n");
    const a = await createTestApp("pglite", { JWT_PUBLIC_KEY: pem, JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
    const served = await serveWithEvents(a);
    const { events, url } = served;
    const jwt = (exp: number) =>
      new SignJWT({ sub: "jwt-subscriber" })
        .setProtectedHeader({ alg: "ES256" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime(exp)
        .sign(key.privateKey);
    const now = Math.floor(Date.now() / 1000);
    const fresh = await jwt(now + 300);
    const subs: Awaited<ReturnType<typeof subscribe>>[] = [];
    try {
      const created = await post(
        url,
        'mutation { createOrganization(input: { title: "Jwt" }) { ... on CreateOrganizationSuccess { organization { id } } } }',
        {},
        fresh,
      );
      const orgId = created.data.createOrganization.organization.id as string;
      // Valid when the subscription starts (4 s ahead, and the verifier allows 5 s of clock skew: 9 s
      // for a loaded machine to start it), past its exp when the first event comes: the event is made
      // only once the clock has passed it.
      const exp = Math.floor(Date.now() / 1000) + 4;
      const expiring = await jwt(exp);
      subs.push(await subscribe(url, fresh, orgId), await subscribe(url, expiring, orgId));
      await until("both subscriptions to start", () => events.bus.subscriptions() === 2);
      await until("the JWT's exp to pass", () => Date.now() > exp * 1000);
      await post(url, CREATE_LINK, { o: orgId }, fresh);
      expect((await subs[0]?.next())?.data.data.organizationEvents.action).toBe("link.created");
      const refused = await subs[1]?.next();
      expect(refused?.data.data ?? null).toBeNull();
      expect(refused?.data.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      await until("the expired subscription to end", () => events.bus.subscriptions() === 1);
    } finally {
      for (const sub of subs) sub.close();
      await served.close();
      await a.close();
    }
  });
});

/** `.ci/run` sets TEST_REDIS_URL (Redis on 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL;
const replicas = process.env.TEST_DATABASE_URL && REDIS_URL;
describe.skipIf(!replicas)(
  `organizationEvents across two replicas through Redis${replicas ? "" : " (skipped: set TEST_DATABASE_URL and TEST_REDIS_URL)"}`,
  () => {
    const prefix = `igw-test-${randomBytes(4).toString("hex")}`;
    let testDb: TestDatabase;
    let replicaA: RunningServer;
    let replicaB: RunningServer;
    let redis: Redis;
    beforeAll(async () => {
      testDb = await openTestDatabase("postgres");
      const env = (extra: Record<string, string>) =>
        loadConfig({
          NODE_ENV: "test",
          DATABASE_URL: testDb.url as string,
          REDIS_URL: REDIS_URL as string,
          REDIS_KEY_PREFIX: prefix,
          HOST: "127.0.0.1",
          PORT: "0",
          AUTO_MIGRATE: "false",
          RATE_LIMIT_PER_MINUTE: "1000000",
          ...extra,
        });
      // A polls its outbox once an hour: an event committed on B reaches A's subscriber only
      // through B's relay and Redis.
      replicaA = await startServer(env({ OUTBOX_POLL_INTERVAL: "1h" }), createLogger("silent"));
      replicaB = await startServer(env({}), createLogger("silent"));
      redis = new Redis(REDIS_URL as string);
    });
    /** Replica A's subscription to the organization's channel has reached Redis. */
    const untilSubscribedInRedis = (organizationId: string) =>
      until("A to subscribe in Redis", async () => {
        const channel = `${prefix}:organizationEvents:${organizationId}`;
        const [, count] = (await redis.pubsub("NUMSUB", channel)) as [string, number];
        return Number(count) === 1;
      });
    afterAll(async () => {
      await replicaA?.close();
      await replicaB?.close();
      redis?.disconnect();
      await testDb?.close();
    });

    it("a subscriber on replica A sees an invite made on replica B", async () => {
      const db = testDb.database.prisma;
      const { user: owner, token } = await createUserWithToken(db, { email: uniqueEmail("replica-admin") });
      const org = await createOrganization(db, owner.id, "Replicated");
      const sub = await subscribe(replicaA.url, token, org.id);
      try {
        await untilSubscribedInRedis(org.id);
        const invited = await post(replicaB.url, INVITE, { o: org.id, emails: [uniqueEmail("replicated")] }, token);
        const inviteId = invited.data.inviteUsersToOrganization.invites[0].id as string;
        const message = await sub.next();
        expect(message?.data.data.organizationEvents).toMatchObject({
          action: "invite.created",
          targetId: inviteId,
          actor: { id: owner.id },
        });
        const row = await db.outboxEvent.findFirstOrThrow({ where: { organizationId: org.id } });
        expect(row.id).toBe(message?.data.data.organizationEvents.id);
        expect(row.publishedAt).not.toBeNull();
      } finally {
        sub.close();
      }
    });

    it("a replica that shuts down ends its open subscriptions (the SSE stream completes)", async () => {
      const db = testDb.database.prisma;
      const { user: owner, token } = await createUserWithToken(db, { email: uniqueEmail("closing-admin") });
      const org = await createOrganization(db, owner.id, "Closing");
      const sub = await subscribe(replicaA.url, token, org.id);
      try {
        await untilSubscribedInRedis(org.id);
        const closing = replicaA.close();
        const message = await sub.next();
        expect(message?.event === "complete" || message === null).toBe(true);
        await closing;
      } finally {
        sub.close();
      }
    });
  },
);
