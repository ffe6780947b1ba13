/**
 * MAX_SUBSCRIPTIONS_PER_CALLER: the streams one caller (user) may hold open at once. One more is
 * refused with TOO_MANY_SUBSCRIPTIONS (HTTP 429 over SSE); a slot is given back when its stream
 * ends, whoever ends it: the client, the server on shutdown, a recheck that refuses the subscriber.
 * SSE on a real socket (test/helpers/sse.ts).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../../src/domain/users.js";
import { createEventBus, type EventBus } from "../../src/events/bus.js";
import { createGraphQLHandler, type Yoga } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { type TestApp, type TestUser, useTestApp } from "../helpers/app.js";
import { subscribe } from "../helpers/sse.js";
import { until } from "../helpers/wait.js";

type Stream = Awaited<ReturnType<typeof subscribe>>;

describe("MAX_SUBSCRIPTIONS_PER_CALLER", () => {
  const app = useTestApp("pglite", { MAX_SUBSCRIPTIONS_PER_CALLER: "2", SUBSCRIPTION_RECHECK_INTERVAL: "200ms" });
  let a: TestApp;
  let bus: EventBus;
  let yoga: Yoga;
  let server: ReturnType<typeof createServer>;
  let url: string;
  const streams: Stream[] = [];
  /** Opens a stream (closed after the test file, if the test did not) and returns it. */
  const open = async (token: string, organizationId: string) => {
    const stream = await subscribe(url, token, organizationId);
    streams.push(stream);
    return stream;
  };
  /** The stream is refused: HTTP 429, one message with the error, then the end. */
  const expectRefused = async (stream: Stream) => {
    expect(stream.status).toBe(429);
    const message = await stream.next();
    expect(message?.data.data ?? null).toBeNull();
    expect(message?.data.errors).toEqual([
      {
        message: "Too many subscriptions: at most 2 open at once for one caller. Close one to open another.",
        extensions: { code: "TOO_MANY_SUBSCRIPTIONS" },
      },
    ]);
    const last = await stream.next();
    expect(last === null || last.event === "complete").toBe(true);
  };
  /** Reads a stream to its end; returns its last message before `complete`. */
  const drain = async (stream: Stream) => {
    let last = null;
    for (let message = await stream.next(); message && message.event !== "complete"; message = await stream.next()) {
      last = message;
    }
    return last;
  };
  /** An admin of a new organization, and a second admin of it. */
  const adminsOf = async () => {
    const owner = await a.seed.user("sub-owner");
    const org = await a.seed.org(owner);
    const other: TestUser = await a.seed.user("sub-other");
    await a.seed.member(org.id, other, "ADMIN");
    return { owner, other, org };
  };

  beforeAll(async () => {
    a = app.current;
    bus = createEventBus({ redisUrl: null, channelPrefix: "igw-test" }, createLogger("silent"));
    yoga = createGraphQLHandler({ db: a.db, config: a.testDb.config, logger: createLogger("silent"), events: bus });
    server = createServer(yoga);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await bus?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await yoga?.dispose();
  });

  it("refuses a caller's stream past the limit, with any of its tokens; another caller is unaffected", async () => {
    const { owner, other, org } = await adminsOf();
    for (const stream of [await open(owner.token, org.id), await open(owner.token, org.id)]) {
      expect(stream.status).toBe(200);
    }
    await until("two streams to be open", () => bus.subscriptions() === 2);
    await expectRefused(await open(owner.token, org.id));
    // The caller is the user: another of its tokens has no budget of its own.
    const { token: second } = await createToken(a.db, { email: owner.email });
    await expectRefused(await open(second, org.id));
    expect(bus.subscriptions()).toBe(2);

    expect((await open(other.token, org.id)).status).toBe(200);
    await until("the other caller's stream to be open", () => bus.subscriptions() === 3);
    for (const stream of streams) stream.close();
    await until("every stream to end", () => bus.subscriptions() === 0);
  });

  it("gives the slot back when the client closes a stream", async () => {
    const { owner, org } = await adminsOf();
    const first = await open(owner.token, org.id);
    await open(owner.token, org.id);
    await until("two streams to be open", () => bus.subscriptions() === 2);
    await expectRefused(await open(owner.token, org.id));
    first.close();
    // The client's leaving reaches the server when its socket closes: try until it has.
    const again = await until("a slot to be free", async () => {
      const stream = await open(owner.token, org.id);
      if (stream.status === 200) return stream;
      await expectRefused(stream);
      return null;
    });
    expect(again.status).toBe(200);
    await until("two streams to be open", () => bus.subscriptions() === 2);
    await expectRefused(await open(owner.token, org.id));
    for (const stream of streams) stream.close();
    await until("every stream to end", () => bus.subscriptions() === 0);
  });

  it("gives the slots back when the server ends the streams (shutdown)", async () => {
    const { owner, org } = await adminsOf();
    const opened = [await open(owner.token, org.id), await open(owner.token, org.id)];
    await until("two streams to be open", () => bus.subscriptions() === 2);
    await bus.endSubscriptions();
    for (const stream of opened) expect(await drain(stream)).toBeNull();
    const again = [await open(owner.token, org.id), await open(owner.token, org.id)];
    expect(again.map((s) => s.status)).toEqual([200, 200]);
    await until("two streams to be open", () => bus.subscriptions() === 2);
    for (const stream of streams) stream.close();
    await until("every stream to end", () => bus.subscriptions() === 0);
  });

  it("gives the slots back when a recheck ends the streams (the subscriber was demoted)", async () => {
    const { owner, org } = await adminsOf();
    const kept = await a.seed.org(owner, "Kept");
    const opened = [await open(owner.token, org.id), await open(owner.token, org.id)];
    await until("two streams to be open", () => bus.subscriptions() === 2);
    await a.db.member.update({
      where: { organizationId_userId: { organizationId: org.id, userId: owner.id } },
      data: { role: "READ" },
    });
    for (const stream of opened) {
      expect((await drain(stream))?.data.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
    const again = [await open(owner.token, kept.id), await open(owner.token, kept.id)];
    expect(again.map((s) => s.status)).toEqual([200, 200]);
    await until("two streams to be open", () => bus.subscriptions() === 2);
    for (const stream of streams) stream.close();
    await until("every stream to end", () => bus.subscriptions() === 0);
  });
});
