import { createHash, randomBytes } from "node:crypto";
import { type Client, createClient } from "graphql-ws";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../../src/config.js";
import { createDatabase, type Database } from "../../src/db/client.js";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { uniqueEmail } from "../helpers/app.js";
import { adminQuery } from "../helpers/db.js";
import { startServerProcess, stopServerProcess } from "../helpers/process.js";
import { post, type Replica, replicaOf } from "../helpers/replicas.js";
import { until } from "../helpers/wait.js";

/**
 * Two server processes (replicas) on one PostgreSQL database and one Redis, as a browser app meets
 * them behind a load balancer: its graphql-ws connection on one replica, its HTTP requests on the
 * other. A subscription on A receives the event of a mutation made on B (B's outbox relay publishes
 * it in Redis; A polls its own outbox once an hour, so nothing else could deliver it), and an APQ
 * hash registered on A runs on B by its hash alone, over HTTP and over the socket (one store, in Redis).
 */
const SERVER_URL = process.env.TEST_DATABASE_URL;
/** `.ci/run` sets TEST_REDIS_URL (Redis on 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL;
const title =
  SERVER_URL && REDIS_URL
    ? "graphql-ws and APQ across two replicas on one PostgreSQL and one Redis"
    : "graphql-ws and APQ across two replicas (skipped: set TEST_DATABASE_URL and TEST_REDIS_URL)";

const SUBSCRIBE = `subscription ReplicaEvents($o: ID!) {
  organizationEvents(organizationId: $o) { action targetId actor { id } } }`;
const INVITE = `mutation ReplicaInvite($o: ID!, $e: String!) {
  inviteUsersToOrganization(organizationId: $o, input: { emails: [$e] }) {
    __typename ... on InviteUsersToOrganizationSuccess { invites { id } } } }`;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe.skipIf(!SERVER_URL || !REDIS_URL)(title, () => {
  const name = `igw_t_${randomBytes(6).toString("hex")}`;
  const prefix = `igw-test-${randomBytes(6).toString("hex")}`;
  let db: Database;
  let redis: Redis;
  let a: Replica;
  let b: Replica;
  const clients: Client[] = [];
  let owner: { id: string; token: string };
  let orgId: string;

  const socket = (replica: Replica, token: string) => {
    const client = createClient({
      url: `${replica.server.url.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    await adminQuery(SERVER_URL as string, `CREATE DATABASE ${name}`);
    const u = new URL(SERVER_URL as string);
    u.pathname = `/${name}`;
    const url = u.toString();
    const env = {
      DATABASE_URL: url,
      REDIS_URL: REDIS_URL as string,
      REDIS_KEY_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: "1000000",
      DB_CONNECT_TIMEOUT: "30s",
    };
    // A first (it migrates); B on the migrated database.
    a = replicaOf(await startServerProcess({ ...env, OUTBOX_POLL_INTERVAL: "1h" }));
    b = replicaOf(await startServerProcess({ ...env, AUTO_MIGRATE: "false", OUTBOX_POLL_INTERVAL: "100ms" }));
    db = await createDatabase(loadConfig({ NODE_ENV: "test", DATABASE_URL: url, DB_POOL_SIZE: "2" }));
    redis = new Redis(REDIS_URL as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const { user, token } = await createUserWithToken(db.prisma, { email: uniqueEmail("ws-replicas") });
    owner = { id: user.id, token };
    orgId = (await createOrganization(db.prisma, user.id, "WS replicas")).id;
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await Promise.all([a, b].filter(Boolean).map((r) => stopServerProcess(r.server)));
    for (const r of [a, b]) r?.agent.destroy();
    await db?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
    await adminQuery(SERVER_URL as string, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  it("a graphql-ws subscription on replica A receives the event of a mutation made on replica B", async () => {
    const events: Array<{ action: string; targetId: string; actor: { id: string } }> = [];
    const errors: unknown[] = [];
    socket(a, owner.token).subscribe(
      { query: SUBSCRIBE, variables: { o: orgId } },
      {
        next: (result) => {
          if (result.errors) errors.push(result.errors);
          else events.push((result.data as { organizationEvents: (typeof events)[number] }).organizationEvents);
        },
        error: (error) => void errors.push(error),
        complete: () => {},
      },
    );
    // Live once A's subscription to the organization's channel has reached Redis.
    await until("A to subscribe in Redis", async () => {
      expect(errors).toEqual([]);
      const [, count] = (await redis.pubsub("NUMSUB", `${prefix}:organizationEvents:${orgId}`)) as [string, number];
      return Number(count) === 1;
    });
    const invited = await post(b, INVITE, { o: orgId, e: uniqueEmail("ws-replicas-invitee") }, owner.token);
    expect(invited.body.data?.inviteUsersToOrganization.__typename).toBe("InviteUsersToOrganizationSuccess");
    const inviteId = invited.body.data?.inviteUsersToOrganization.invites[0].id as string;
    await until("the event on A", () => events.length > 0 || errors.length > 0);
    expect(errors).toEqual([]);
    expect(events).toEqual([{ action: "invite.created", targetId: inviteId, actor: { id: owner.id } }]);
  });

  it("an APQ document registered on A runs by its hash alone on B, over HTTP and over graphql-ws", async () => {
    // Unique to this run: no other run's registration can answer for it.
    const text = `query ReplicaApq { viewer { id } organization(id: "${orgId}") { id title } }`;
    const hash = sha256(text);
    const persistedQuery = { persistedQuery: { version: 1, sha256Hash: hash } };
    const apq = (replica: Replica, body: Record<string, unknown>) =>
      fetch(`${replica.server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${owner.token}` },
        body: JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, body: await response.json() }));
    const expected = { data: { viewer: { id: owner.id }, organization: { id: orgId, title: "WS replicas" } } };

    // Unknown on B before A registers it: B answers from the shared store, not from anything of its own.
    const before = await apq(b, { extensions: persistedQuery });
    expect(before.body.errors?.map((e: { extensions?: { code?: string } }) => e.extensions?.code)).toEqual([
      "PERSISTED_QUERY_NOT_FOUND",
    ]);
    // Registered on A: its hash and its text.
    expect(await apq(a, { query: text, extensions: persistedQuery })).toEqual({ status: 200, body: expected });
    // On B by its hash alone, over HTTP.
    expect(await apq(b, { extensions: persistedQuery })).toEqual({ status: 200, body: expected });
    // And over B's socket: an empty `query` and the hash in the `subscribe` payload's extensions.
    const overSocket = await new Promise<unknown>((resolve, reject) => {
      socket(b, owner.token).subscribe({ query: "", extensions: persistedQuery } as { query: string }, {
        next: resolve,
        error: reject,
        complete: () => {},
      });
    });
    expect(overSocket).toEqual(expected);
  });
});
