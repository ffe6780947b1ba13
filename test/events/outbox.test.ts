/**
 * The transactional outbox and webhooks: every audit event is copied to OutboxEvent in the same
 * transaction (rolled back with it), and with WEBHOOK_URL each one is POSTed, signed, to a receiver
 * on loopback, retried with backoff until it answers 2xx, its delivery state kept in the row.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/client.js";
import { recordAuditEvents } from "../../src/domain/audit.js";
import { inTransaction } from "../../src/domain/tx.js";
import { startEvents } from "../../src/events/service.js";
import { createLogger } from "../../src/observability/logger.js";
import { gqlData, type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { startAppEvents, useAppEvents } from "../helpers/events.js";
import { until } from "../helpers/wait.js";

const SECRET = "test-webhook-secret-0123456789";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails }) {
      __typename
      ... on Error { code }
      ... on InviteUsersToOrganizationSuccess { invites { id email } }
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

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/**
 * A webhook receiver on loopback. Per organization (read from the body) it answers `plan` in turn
 * (e.g. [500, 500, 200]), then the plan's last status again.
 */
async function startReceiver(plans: Map<string, number[]>) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      const org = (JSON.parse(body) as { organizationId: string }).organizationId;
      const plan = plans.get(org) ?? [200];
      const seen = received.filter((r) => JSON.parse(r.body).organizationId === org).length;
      const status = plan[Math.min(seen, plan.length - 1)] as number;
      received.push({ headers: req.headers, body, status });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "try again");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What a receiver does (README "Events"): recompute the HMAC over `<timestamp>.<raw body>`. */
function verify(headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers["x-igw-timestamp"]);
  const expected = `sha256=${createHmac("sha256", SECRET).update(`${timestamp}.${body}`).digest("hex")}`;
  const given = String(headers["x-igw-signature"]);
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

describe.each(DB_KINDS)("outbox (%s)", (kind) => {
  const app = useTestApp(kind, { INVITE_RATE_LIMIT: "3" });
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  const ok = (query: string, variables: Record<string, unknown>, user: TestUser) => gqlData(a, query, variables, user);

  it("copies every audit event, in the same transaction, with the same id and a payload", async () => {
    const admin = await a.seed.user("outbox-admin");
    const org = await a.seed.org(admin, "Outboxed");
    const emails = [uniqueEmail("o1"), uniqueEmail("o2")];
    await ok(INVITE, { o: org.id, emails }, admin);
    await ok(CREATE_LINK, { o: org.id }, admin);

    const audit = await a.db.auditEvent.findMany({ where: { organizationId: org.id }, orderBy: { id: "asc" } });
    const outbox = await a.db.outboxEvent.findMany({ where: { organizationId: org.id }, orderBy: { id: "asc" } });
    expect(audit.map((e) => e.action).sort()).toEqual(["invite.created", "invite.created", "link.created"]);
    expect(outbox.map((o) => o.id)).toEqual(audit.map((e) => e.id));
    for (const [i, row] of outbox.entries()) {
      const event = audit[i];
      expect(row).toMatchObject({
        action: event?.action,
        targetId: event?.targetId,
        actorId: admin.id,
        createdAt: event?.createdAt,
        webhookAttempts: 0,
        webhookDeliveredAt: null,
        // Due for delivery from the start (no relay ran), whether or not WEBHOOK_URL / SMTP_URL is
        // set; an email for invites only.
        webhookNextAttemptAt: event?.createdAt,
        emailNextAttemptAt: event?.action === "invite.created" ? event?.createdAt : null,
        publishedAt: null,
      });
      expect(row.payload).toEqual({
        id: event?.id,
        action: event?.action,
        organizationId: org.id,
        targetId: event?.targetId,
        actorId: admin.id,
        createdAt: event?.createdAt.toISOString(),
      });
    }
  });

  it("writes nothing when the transaction rolls back (a failing call, a thrown error)", async () => {
    const admin = await a.seed.user("rollback-admin");
    const org = await a.seed.org(admin, "Rolled back");
    const outboxCount = () => a.db.outboxEvent.count({ where: { organizationId: org.id } });
    // Over INVITE_RATE_LIMIT (3): the call fails whole with RATE_LIMITED after nothing was kept.
    const res = await ok(INVITE, { o: org.id, emails: [1, 2, 3, 4].map(() => uniqueEmail("over")) }, admin);
    expect(res.inviteUsersToOrganization).toEqual({ __typename: "RateLimitedError", code: "RATE_LIMITED" });
    expect(await outboxCount()).toBe(0);

    await expect(
      inTransaction(a.db, async (tx) => {
        await recordAuditEvents(tx, org.id, { userId: admin.id, tokenId: null, subject: null }, [
          { action: "link.created", targetId: "l1" },
          { action: "link.updated", targetId: "l1" },
        ]);
        // Written, and visible inside the transaction...
        expect(await tx.outboxEvent.count({ where: { organizationId: org.id } })).toBe(2);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    // ...and gone with it.
    expect(await outboxCount()).toBe(0);
    expect(await a.db.auditEvent.count({ where: { organizationId: org.id } })).toBe(0);
  });
});

describe.each(DB_KINDS)("outbox relay (%s)", (kind) => {
  // Polls once an hour: a row published within the test was published because a commit woke the relay.
  const app = useTestApp(kind, { OUTBOX_POLL_INTERVAL: "1h" });

  it("is woken by the commit that wrote outbox rows (no poll needed)", async () => {
    const a = app.current;
    const admin = await a.seed.user("wake-admin");
    const org = await a.seed.org(admin, "Woken");
    const events = startAppEvents(a);
    try {
      // The first row may be published by the round the relay runs at start; once it is, that round
      // is over, and only a wake-up (the second commit) or the hourly poll starts another.
      for (const n of [1, 2]) {
        await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
        await until(`the relay to publish row ${n}`, async () => {
          const rows = await a.db.outboxEvent.findMany({ where: { organizationId: org.id } });
          return rows.length === n && rows.every((r) => r.publishedAt !== null);
        });
      }
    } finally {
      await events.close();
    }
  });

  it("publishes rows committed while no relay ran (a crash between commit and publish) when one starts", async () => {
    const a = app.current;
    const admin = await a.seed.user("crash-admin");
    const org = await a.seed.org(admin, "Crashed");
    await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
    const row = await a.db.outboxEvent.findFirstOrThrow({ where: { organizationId: org.id } });
    expect(row.publishedAt).toBeNull();

    const events = startAppEvents(a);
    try {
      await until("the relay to publish the row", async () => {
        const r = await a.db.outboxEvent.findUniqueOrThrow({ where: { id: row.id } });
        return r.publishedAt !== null;
      });
      // No webhooks configured: the row stays due (for a replica with WEBHOOK_URL), never attempted.
      const published = await a.db.outboxEvent.findUniqueOrThrow({ where: { id: row.id } });
      expect(published).toMatchObject({ webhookNextAttemptAt: row.createdAt, webhookAttempts: 0 });
    } finally {
      await events.close();
    }
  });
});

describe.each(DB_KINDS)("webhooks (%s)", (kind) => {
  const plans = new Map<string, number[]>();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const env: Record<string, string> = {
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_BACKOFF: "50ms",
    WEBHOOK_MAX_BACKOFF: "200ms",
    WEBHOOK_MAX_ATTEMPTS: "4",
    OUTBOX_POLL_INTERVAL: "100ms",
  };
  beforeAll(async () => {
    receiver = await startReceiver(plans);
    env.WEBHOOK_URL = receiver.url;
  });
  afterAll(async () => {
    await receiver?.close();
  });
  const app = useTestApp(kind, env);
  useAppEvents(app);
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  it("a receiver that answers 500 twice, then 200, gets the event: signed, same id each time, one success", async () => {
    const admin = await a.seed.user("hook-admin");
    const org = await a.seed.org(admin, "Hooked");
    plans.set(org.id, [500, 500, 200]);
    const res = await a.gql(INVITE, { variables: { o: org.id, emails: [uniqueEmail("hooked")] }, token: admin.token });
    const inviteId = res.data?.inviteUsersToOrganization.invites[0].id as string;
    const event = await a.db.auditEvent.findFirstOrThrow({ where: { organizationId: org.id } });

    const row = await until("the delivery to be recorded", async () => {
      const r = await a.db.outboxEvent.findUniqueOrThrow({ where: { id: event.id } });
      return r.webhookDeliveredAt ? r : null;
    });
    expect(row).toMatchObject({ webhookAttempts: 3, webhookNextAttemptAt: null, webhookLastError: null });
    expect(row.publishedAt).not.toBeNull();

    const mine = receiver.received.filter((r) => JSON.parse(r.body).organizationId === org.id);
    expect(mine.map((r) => r.status)).toEqual([500, 500, 200]);
    for (const delivery of mine) {
      expect(delivery.headers["content-type"]).toBe("application/json");
      expect(delivery.headers["x-igw-event-id"]).toBe(event.id);
      expect(delivery.headers["x-igw-event"]).toBe("invite.created");
      expect(verify(delivery.headers, delivery.body)).toBe(true);
      expect(JSON.parse(delivery.body)).toEqual({
        id: event.id,
        action: "invite.created",
        organizationId: org.id,
        targetId: inviteId,
        actorId: admin.id,
        createdAt: event.createdAt.toISOString(),
      });
    }
    // A body changed in transit, or signed with another secret, does not verify.
    const first = mine[0] as Received;
    expect(verify(first.headers, first.body.replace(org.id, "someone-else"))).toBe(false);
  });

  it("two replicas' dispatchers share the work: each event is claimed and delivered once", async () => {
    const admin = await a.seed.user("shared-admin");
    const org = await a.seed.org(admin, "Shared");
    plans.set(org.id, [200]);
    // A second replica: on PostgreSQL a client (pool) of its own on the same database.
    const second = kind === "postgres" ? await createDatabase(a.testDb.config) : null;
    const other = startEvents({
      db: second?.prisma ?? a.db,
      config: a.testDb.config,
      logger: createLogger("silent"),
    });
    try {
      for (let i = 0; i < 20; i++) {
        const res = await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
        expect(res.errors).toBeUndefined();
      }
      await until("all 20 deliveries", async () => {
        const delivered = await a.db.outboxEvent.count({
          where: { organizationId: org.id, webhookDeliveredAt: { not: null } },
        });
        return delivered === 20;
      });
    } finally {
      await other.close();
      await second?.close();
    }
    const ids = receiver.received
      .filter((r) => JSON.parse(r.body).organizationId === org.id)
      .map((r) => r.headers["x-igw-event-id"]);
    expect(new Set(ids).size).toBe(20);
    expect(ids).toHaveLength(20);
    const rows = await a.db.outboxEvent.findMany({ where: { organizationId: org.id } });
    expect(rows.every((r) => r.webhookAttempts === 1)).toBe(true);
  });

  it("gives up after WEBHOOK_MAX_ATTEMPTS, keeping the last error", async () => {
    const admin = await a.seed.user("down-admin");
    const org = await a.seed.org(admin, "Receiver down");
    plans.set(org.id, [503]);
    await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
    const event = await a.db.auditEvent.findFirstOrThrow({ where: { organizationId: org.id } });
    const row = await until("the delivery to be given up", async () => {
      const r = await a.db.outboxEvent.findUniqueOrThrow({ where: { id: event.id } });
      return r.webhookAttempts === 4 && r.webhookNextAttemptAt === null ? r : null;
    });
    expect(row).toMatchObject({ webhookDeliveredAt: null, webhookLastError: "HTTP 503" });
    expect(receiver.received.filter((r) => JSON.parse(r.body).organizationId === org.id)).toHaveLength(4);
  });
});
