/**
 * The outbox relay and pruner on real databases (src/events/relay.ts, src/events/prune.ts): the relay
 * leases a batch and publishes it with no transaction open, so a stalled publish (a slow or
 * unreachable Redis) holds back neither the mutations (PGlite has one connection), nor another
 * relay's other rows, nor webhooks (due from the moment a row is written); a failed publish
 * releases the rest of its batch; the pruner keeps the outbox to OUTBOX_RETENTION whatever the
 * rows' state, warning about rows a channel of its own did not deliver.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OutboxPayload } from "../../src/domain/outbox.js";
import type { EventBus } from "../../src/events/bus.js";
import { startPruner } from "../../src/events/prune.js";
import { startRelay } from "../../src/events/relay.js";
import { startEvents } from "../../src/events/service.js";
import { createLogger } from "../../src/observability/logger.js";
import { type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { until } from "../helpers/wait.js";

const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!) {
    createLinkInvite(organizationId: $o, input: { role: READ }) {
      __typename ... on CreateLinkInviteSuccess { linkInvite { id } }
    }
  }
`;
const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails }) { __typename }
  }
`;

/** A bus that records what it is asked to publish and answers with `answer` (a promise may stall). */
function testBus(answer: (event: OutboxPayload, call: number) => Promise<void>) {
  const calls: string[] = [];
  const bus: EventBus = {
    publish: (event) => {
      calls.push(event.id);
      return answer(event, calls.length);
    },
    subscribe: () => {
      throw new Error("not used");
    },
    subscriptions: () => 0,
    endSubscriptions: async () => {},
    close: async () => {},
  };
  return { bus, calls };
}

/** A webhook receiver on loopback that answers 200 and records the event ids it got. */
async function startReceiver() {
  const ids: string[] = [];
  const server: Server = createServer((req, res) => {
    ids.push(String(req.headers["x-igw-event-id"]));
    req.resume();
    req.on("end", () => res.writeHead(200).end("ok"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    ids,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.each(DB_KINDS)("outbox relay and pruner (%s)", (kind) => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const env: Record<string, string> = { WEBHOOK_SECRET: "relay-test-secret-0123456789", OUTBOX_POLL_INTERVAL: "50ms" };
  beforeAll(async () => {
    receiver = await startReceiver();
    env.WEBHOOK_URL = receiver.url;
  });
  afterAll(async () => {
    await receiver?.close();
  });
  const app = useTestApp(kind, env);
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });
  const row = (id: string) => a.db.outboxEvent.findUniqueOrThrow({ where: { id } });
  const rowsOf = (organizationId: string) =>
    a.db.outboxEvent.findMany({ where: { organizationId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });

  it("a stalled publish holds back no mutation and no other relay's rows, and its rows are not taken", async () => {
    const admin = await a.seed.user("stall-admin");
    const org = await a.seed.org(admin, "Stalled");
    await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
    const [first] = await rowsOf(org.id);
    if (!first) throw new Error("no outbox row");

    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stalled = testBus(() => gate);
    const relayA = startRelay({
      db: a.db,
      bus: stalled.bus,
      logger: createLogger("silent"),
      pollIntervalMs: 3_600_000,
    });
    const other = testBus(async () => {});
    let relayB: ReturnType<typeof startRelay> | null = null;
    try {
      await until("relay A to publish the first row", async () => stalled.calls.includes(first.id));
      expect(await row(first.id)).toMatchObject({ publishedAt: null, publishLeaseUntil: expect.any(Date) });

      // The database is free while A waits on its publish: a mutation commits (on PGlite, with its
      // one connection, a transaction held by A would stop it).
      const res = await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
      expect(res.errors).toBeUndefined();
      const second = (await rowsOf(org.id)).find((r) => r.id !== first.id);
      if (!second) throw new Error("no second outbox row");

      // Relay B publishes the new row and leaves A's leased row alone.
      relayB = startRelay({ db: a.db, bus: other.bus, logger: createLogger("silent"), pollIntervalMs: 50 });
      await until("relay B to publish the second row", async () => (await row(second.id)).publishedAt !== null);
      await sleep(200); // a few more polls of B
      expect(other.calls).toEqual([second.id]);
      expect((await row(first.id)).publishedAt).toBeNull();

      release();
      await until("relay A to mark its row published", async () => (await row(first.id)).publishedAt !== null);
      expect(await row(first.id)).toMatchObject({ publishLeaseUntil: null });
      expect(stalled.calls).toEqual([first.id]);
    } finally {
      release();
      await Promise.all([relayA.close(), relayB?.close()]);
    }
  });

  it("a failed publish marks the rows published before it and releases the rest for the next round", async () => {
    const admin = await a.seed.user("fail-admin");
    const org = await a.seed.org(admin, "Failing");
    await a.gql(INVITE, {
      variables: { o: org.id, emails: [uniqueEmail("f1"), uniqueEmail("f2"), uniqueEmail("f3")] },
      token: admin.token,
    });
    const rows = await rowsOf(org.id);
    expect(rows).toHaveLength(3);
    const ids = rows.map((r) => r.id);
    // The second publish fails once (e.g. Redis refused the PUBLISH).
    const flaky = testBus(async (_event, call) => {
      if (call === 2) throw new Error("PUBLISH refused");
    });
    const relay = startRelay({ db: a.db, bus: flaky.bus, logger: createLogger("silent"), pollIntervalMs: 50 });
    try {
      // Released, not left leased for 30 s: the next poll publishes them.
      // Within the 30 s lease: rows left leased, not released, would time this out.
      await until(
        "every row to be published",
        async () => (await rowsOf(org.id)).every((r) => r.publishedAt !== null && r.publishLeaseUntil === null),
        15_000,
      );
    } finally {
      await relay.close();
    }
    expect(flaky.calls).toEqual([ids[0], ids[1], ids[1], ids[2]]);
  });

  it("with Redis unreachable, rows wait unpublished while their webhooks are delivered", async () => {
    const admin = await a.seed.user("redis-down-admin");
    const org = await a.seed.org(admin, "Redisless");
    const config = a.testDb.config;
    const events = startEvents({
      db: a.db,
      config: { ...config, events: { ...config.events, redisUrl: `redis://127.0.0.1:${await closedPort()}` } },
      logger: createLogger("silent"),
    });
    try {
      await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });
      const [event] = await rowsOf(org.id);
      if (!event) throw new Error("no outbox row");
      await until("the webhook delivery", async () => (await row(event.id)).webhookDeliveredAt !== null);
      expect(receiver.ids.filter((id) => id === event.id)).toHaveLength(1);
      expect((await row(event.id)).publishedAt).toBeNull();
    } finally {
      await events.close();
    }
  });

  it("the pruner deletes rows past OUTBOX_RETENTION whatever their state, warning about undelivered ones", async () => {
    const old = new Date(Date.now() - 2 * 3_600_000);
    const recent = new Date();
    const make = (id: string, createdAt: Date, data: Record<string, Date | null>) =>
      a.db.outboxEvent.create({
        data: { id, organizationId: "prune-org", action: "invite.created", payload: { id }, createdAt, ...data },
      });
    await make("prune-done", old, { publishedAt: old, webhookDeliveredAt: old });
    await make("prune-unpublished", old, { webhookDeliveredAt: old });
    await make("prune-webhook-due", old, { publishedAt: old, webhookNextAttemptAt: old, emailNextAttemptAt: old });
    await make("prune-recent", recent, { webhookNextAttemptAt: recent });

    const lines: Record<string, any>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    // Webhooks on, emails off in this process: a pending email is not reported as lost.
    const pruner = startPruner({
      db: a.db,
      logger: createLogger("debug", sink),
      retentionMs: 3_600_000,
      webhooks: true,
      emails: false,
    });
    try {
      await until(
        "the old rows to be deleted",
        async () => (await a.db.outboxEvent.count({ where: { organizationId: "prune-org" } })) === 1,
      );
    } finally {
      await pruner.close();
    }
    expect(await a.db.outboxEvent.findMany({ where: { organizationId: "prune-org" }, select: { id: true } })).toEqual([
      { id: "prune-recent" },
    ]);
    const warning = lines.find((line) => line.msg === "outbox rows past OUTBOX_RETENTION deleted undelivered");
    expect(warning).toMatchObject({ level: 40, undelivered: { unpublished: 1, webhooks: 1, emails: 0 } });
    expect(warning?.deleted).toBe(3);
  });
});
