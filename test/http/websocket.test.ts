import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Client, createClient, type FormattedExecutionResult } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../../src/config.js";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken, revokeToken } from "../../src/domain/users.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { uniqueEmail } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { startTestServer } from "../helpers/server.js";
import { until } from "../helpers/wait.js";

const SUBSCRIBE = /* GraphQL */ `
  subscription ($o: ID!) {
    organizationEvents(organizationId: $o) { id action targetId actor { id } }
  }
`;
const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails }) {
      __typename ... on InviteUsersToOrganizationSuccess { invites { id } }
    }
  }
`;
const ORGANIZATION = /* GraphQL */ `
  query ($o: ID!) { organization(id: $o) { id } }
`;

type Result = FormattedExecutionResult<Record<string, any>, unknown>;

/** Everything one operation sends: its results, then how it ended (`complete` or its error). */
function run(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const results: Result[] = [];
  let cancel = () => {};
  const ended = new Promise<{ complete: true } | { error: unknown }>((resolve) => {
    cancel = client.subscribe(
      { query, variables },
      {
        next: (value) => void results.push(value),
        error: (error) => resolve({ error }),
        complete: () => resolve({ complete: true }),
      },
    );
  });
  return { results, ended, cancel };
}

/**
 * How one operation with these params ends: its first result, or the errors it was refused with (an
 * `error` message, or a result of errors alone: how APQ's answers come, as over HTTP).
 */
function outcome(client: Client, payload: Record<string, unknown>) {
  return new Promise<{ result: Result } | { errors: Array<{ message: string; extensions?: { code?: string } }> }>(
    (resolve, reject) => {
      client.subscribe({ query: "", ...payload } as { query: string }, {
        next: (result) =>
          resolve(
            result.errors && !("data" in result)
              ? { errors: result.errors as Array<{ message: string }> }
              : { result: result as Result },
          ),
        error: (error) => (Array.isArray(error) ? resolve({ errors: error }) : reject(error)),
        complete: () => {},
      });
    },
  );
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** One query or mutation's result. */
async function once(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<Result> {
  const op = run(client, query, variables);
  const end = await op.ended;
  if ("error" in end)
    throw new Error(
      `operation failed: ${JSON.stringify(end.error)} ${(end.error as { code?: number }).code} ${(end.error as { reason?: string }).reason}`,
    );
  return op.results[0] as Result;
}

const codes = (result: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
  (result.errors ?? []).map((e) => e.extensions?.code);

/** A raw graphql-transport-ws connection: sends connection_init, resolves with "ack" or the close code. */
function connectRaw(url: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return new Promise<{ ack: true; socket: WebSocket } | { code: number; reason: string }>((resolve, reject) => {
    const socket = new WebSocket(url, "graphql-transport-ws", { headers });
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload })));
    socket.on("message", (data) => {
      if (JSON.parse(String(data)).type === "connection_ack") resolve({ ack: true, socket });
    });
    socket.on("close", (code, reason) => resolve({ code, reason: String(reason) }));
    socket.on("unexpected-response", (_req, res) => resolve({ code: -(res.statusCode ?? 0), reason: "http" }));
    socket.on("error", (error) => reject(error));
  });
}

describe.each(DB_KINDS)("GraphQL over WebSocket (%s)", (kind) => {
  let running: RunningServer;
  let wsUrl: string;
  const clients: Client[] = [];
  const sockets: WebSocket[] = [];

  const client = (token: string | null, extra: Partial<Parameters<typeof createClient>[0]> = {}) => {
    const c = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
      retryAttempts: 0,
      ...extra,
    });
    clients.push(c);
    return c;
  };
  const seed = {
    user: async (prefix = "ws") => {
      const { user, token } = await createUserWithToken(running.database.prisma, { email: uniqueEmail(prefix) });
      return { id: user.id, token };
    },
    org: async (ownerId: string) => (await createOrganization(running.database.prisma, ownerId, "WS")).id,
    member: (organizationId: string, userId: string, role: "ADMIN" | "READ") =>
      running.database.prisma.member.create({ data: { organizationId, userId, role } }),
  };
  /** A series of graphql_requests_total in /metrics (0 when absent). */
  const metric = async (labels: string) => {
    const text = await (await fetch(`${running.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`graphql_requests_total{${labels}} `));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };
  /**
   * Until the subscription of this (signed-in caller's, unique) operation name is live: counted when
   * its stream started, so its connection was acknowledged and its events are being read.
   */
  const untilStreaming = (operationName: string) =>
    until(
      `the subscription ${operationName} to start`,
      async () =>
        (await metric(
          `operation_type="subscription",operation_name="${operationName}",outcome="ok",transport="ws"`,
        )) === 1,
    );
  const watch = (operationName: string) => /* GraphQL */ `
    subscription ${operationName}($o: ID!) {
      organizationEvents(organizationId: $o) { id action targetId actor { id } }
    }
  `;
  const post = async (query: string, variables: Record<string, unknown>, token: string | null) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${running.url}/graphql`, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as Result;
  };

  beforeAll(async () => {
    running = await startTestServer(kind, {
      SUBSCRIPTION_RECHECK_INTERVAL: "200ms",
      OUTBOX_POLL_INTERVAL: "100ms",
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: "2",
      WS_MAX_CONNECTIONS_PER_CALLER: "2",
      MAX_SUBSCRIPTIONS_PER_CALLER: "3",
      CORS_ORIGINS: "https://app.example.com",
    });
    wsUrl = `${running.url.replace("http", "ws")}/graphql`;
  });
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    for (const s of sockets) s.terminate();
    await running?.close();
  });

  it("runs a query and a mutation, with the connection's credential", async () => {
    const owner = await seed.user();
    const orgId = await seed.org(owner.id);
    const c = client(owner.token);
    expect(await once(c, "{ viewer { id } }")).toEqual({ data: { viewer: { id: owner.id } } });
    const invited = await once(c, INVITE, { o: orgId, emails: [uniqueEmail("ws-invitee")] });
    expect(invited.errors).toBeUndefined();
    expect(invited.data?.inviteUsersToOrganization.__typename).toBe("InviteUsersToOrganizationSuccess");
    // Anonymous: allowed, as over HTTP.
    expect(await once(client(null), "{ viewer { id } }")).toEqual({ data: { viewer: null } });
  });

  it("delivers organizationEvents when an invite is created", async () => {
    const owner = await seed.user();
    const orgId = await seed.org(owner.id);
    const sub = run(client(owner.token), watch(`WsDelivers${kind}`), { o: orgId });
    await untilStreaming(`WsDelivers${kind}`);
    const invited = await post(INVITE, { o: orgId, emails: [uniqueEmail("ws-sub")] }, owner.token);
    const inviteId = invited.data?.inviteUsersToOrganization.invites[0].id;
    await until("the event", () => sub.results.length > 0);
    expect(sub.results[0]?.data?.organizationEvents).toMatchObject({
      action: "invite.created",
      targetId: inviteId,
      actor: { id: owner.id },
    });
    sub.cancel();
  });

  it('counts its operations in /metrics with transport="ws": a query, a subscription, a refusal with its code', async () => {
    const owner = await seed.user("ws-metrics");
    const orgId = await seed.org(owner.id);
    const c = client(owner.token);
    expect(await once(c, "query WsCounted { viewer { id } }")).toEqual({ data: { viewer: { id: owner.id } } });
    expect(await metric('operation_type="query",operation_name="WsCounted",outcome="ok",transport="ws"')).toBe(1);
    // A subscription is counted when its stream starts (as an SSE one is when its response starts).
    const sub = run(c, watch("WsCountedEvents"), { o: orgId });
    await untilStreaming("WsCountedEvents");
    sub.cancel();
    // Refused before it runs: counted with the code it was refused with.
    const refused = await run(c, "query WsRefused { nope }").ended;
    expect(refused).toHaveProperty("error");
    expect(
      await metric(
        'operation_type="query",operation_name="WsRefused",outcome="GRAPHQL_VALIDATION_FAILED",transport="ws"',
      ),
    ).toBe(1);
    // Denied by a rule while executing: FORBIDDEN, as over HTTP.
    const outsider = await seed.user("ws-metrics-out");
    await once(client(outsider.token), "query WsDenied($o: ID!) { organization(id: $o) { id } }", { o: orgId });
    expect(await metric('operation_type="query",operation_name="WsDenied",outcome="FORBIDDEN",transport="ws"')).toBe(1);
    // The latency histogram has the socket's series too; HTTP's series carry no transport label.
    const text = await (await fetch(`${running.url}/metrics`)).text();
    expect(text).toMatch(
      /^graphql_request_duration_seconds_count\{operation_type="query",operation_name="WsCounted",transport="ws"\} 1$/m,
    );
    expect(text).not.toMatch(/transport="(?!ws")/);
  });

  it("answers UNAUTHENTICATED and FORBIDDEN with the same codes as HTTP", async () => {
    const owner = await seed.user();
    const orgId = await seed.org(owner.id);
    const outsider = await seed.user();
    for (const token of [null, outsider.token]) {
      const overWs = await once(client(token), ORGANIZATION, { o: orgId });
      const overHttp = await post(ORGANIZATION, { o: orgId }, token);
      expect(codes(overWs)).toEqual(codes(overHttp));
      expect(codes(overWs)).toEqual([token ? "FORBIDDEN" : "UNAUTHENTICATED"]);
    }
    // A subscription refused at its start: the error, no stream.
    const refused = run(client(outsider.token), SUBSCRIBE, { o: orgId });
    expect(await refused.ended).toEqual({ complete: true });
    expect(codes(refused.results[0] as Result)).toEqual(["FORBIDDEN"]);
  });

  it("refuses a credential that does not verify at connect with 4403", async () => {
    for (const Authorization of ["Bearer not-a-token", "Basic abc", 42]) {
      const answer = await connectRaw(wsUrl, { Authorization });
      expect(answer).toMatchObject({ code: 4403 });
    }
    const owner = await seed.user();
    await revokeToken(running.database.prisma, owner.token);
    expect(await connectRaw(wsUrl, { Authorization: `Bearer ${owner.token}` })).toMatchObject({ code: 4403 });
  });

  it("applies the depth and alias limits: the operation's `error` message, BAD_USER_INPUT as over HTTP", async () => {
    const c = client(null);
    const refusal = async (query: string) => {
      const op = run(c, query);
      const end = await op.ended;
      expect(op.results).toEqual([]);
      return (end as { error: { message: string; extensions?: Record<string, unknown> }[] }).error;
    };
    const deepQuery = `{ ${"viewer { ".repeat(14)}id${" }".repeat(14)} }`;
    const deep = await refusal(deepQuery);
    expect(deep).toEqual([
      { message: expect.stringMatching(/depth limit of 12/), extensions: { code: "BAD_USER_INPUT" } },
    ]);
    expect(codes(await post(deepQuery, {}, null))).toEqual(["BAD_USER_INPUT"]);
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: viewer { id }`).join(" ");
    const aliased = await refusal(`{ ${aliases} }`);
    expect(aliased).toEqual([{ message: expect.stringMatching(/alias/i), extensions: { code: "BAD_USER_INPUT" } }]);
    // A syntax error, as HTTP names it; errors never carry Yoga's `http` extension (an HTTP status).
    const broken = await refusal("{ viewer { id }");
    expect(broken.map((e) => e.extensions?.code)).toEqual(["GRAPHQL_PARSE_FAILED"]);
    expect(JSON.stringify([deep, aliased, broken])).not.toContain('"http"');
  });

  it("limits subscriptions per connection", async () => {
    const owner = await seed.user();
    const orgId = await seed.org(owner.id);
    const c = client(owner.token);
    const first = run(c, SUBSCRIBE, { o: orgId });
    run(c, SUBSCRIBE, { o: orgId });
    await sleep(300);
    const third = run(c, SUBSCRIBE, { o: orgId });
    const end = await third.ended;
    expect(end).toHaveProperty("error");
    expect((end as { error: { extensions?: { code?: string } }[] }).error[0]?.extensions?.code).toBe(
      "TOO_MANY_SUBSCRIPTIONS",
    );
    // Another connection of the same caller has its own budget; a closed subscription frees a slot.
    const other = run(client(owner.token), SUBSCRIBE, { o: orgId });
    first.cancel();
    await sleep(200);
    const again = run(c, SUBSCRIBE, { o: orgId });
    await sleep(300);
    expect(again.results).toEqual([]);
    expect(await Promise.race([again.ended, sleep(100).then(() => "open")])).toBe("open");
    expect(await Promise.race([other.ended, sleep(10).then(() => "open")])).toBe("open");
  });

  it("shares MAX_SUBSCRIPTIONS_PER_CALLER across the caller's connections (and SSE)", async () => {
    const owner = await seed.user();
    const orgId = await seed.org(owner.id);
    const a = client(owner.token);
    const b = client(owner.token);
    run(a, SUBSCRIBE, { o: orgId });
    run(a, SUBSCRIBE, { o: orgId });
    run(b, SUBSCRIBE, { o: orgId });
    await sleep(300);
    const fourth = run(b, SUBSCRIBE, { o: orgId });
    expect(await fourth.ended).toEqual({ complete: true });
    expect(fourth.results).toEqual([
      {
        errors: [
          {
            message: "Too many subscriptions: at most 3 open at once for one caller. Close one to open another.",
            extensions: { code: "TOO_MANY_SUBSCRIPTIONS" },
          },
        ],
      },
    ]);
  });

  it("limits connections per caller (4429), and frees the slot when one closes", async () => {
    const user = await seed.user();
    const first = await connectRaw(wsUrl, { Authorization: `Bearer ${user.token}` });
    const second = await connectRaw(wsUrl, { Authorization: `Bearer ${user.token}` });
    expect(first).toHaveProperty("ack");
    expect(second).toHaveProperty("ack");
    expect(await connectRaw(wsUrl, { Authorization: `Bearer ${user.token}` })).toMatchObject({ code: 4429 });
    // Another caller is unaffected.
    const other = await seed.user();
    const third = await connectRaw(wsUrl, { Authorization: `Bearer ${other.token}` });
    expect(third).toHaveProperty("ack");
    for (const answer of [first, second, third]) if ("socket" in answer) sockets.push(answer.socket);
    if ("socket" in first) first.socket.close();
    const again = await until("a connection slot", async () => {
      const answer = await connectRaw(wsUrl, { Authorization: `Bearer ${user.token}` });
      return "ack" in answer ? answer : null;
    });
    sockets.push(again.socket);
  });

  it("APQ over the socket: an unknown hash, a hash that is not its text's (raw graphql-ws)", async () => {
    const owner = await seed.user("ws-apq-raw");
    const c = client(owner.token);
    const text = "query WsApqRaw { viewer { id } }";
    const persistedQuery = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });
    const unknown = await outcome(c, { extensions: persistedQuery(sha256(text)) });
    expect(unknown).toEqual({
      errors: [
        expect.objectContaining({
          message: "PersistedQueryNotFound",
          extensions: { code: "PERSISTED_QUERY_NOT_FOUND" },
        }),
      ],
    });
    const mismatch = await outcome(c, { query: text, extensions: persistedQuery(sha256("{ __typename }")) });
    expect("errors" in mismatch && mismatch.errors.map((e) => e.extensions?.code)).toEqual([
      "PERSISTED_QUERY_MISMATCH",
    ]);
    // Nothing was stored under the wrong hash.
    const still = await outcome(c, { extensions: persistedQuery(sha256("{ __typename }")) });
    expect("errors" in still && still.errors.map((e) => e.extensions?.code)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    // Registered over the socket, the hash runs over HTTP too (one store).
    expect(await outcome(c, { query: text, extensions: persistedQuery(sha256(text)) })).toEqual({
      result: { data: { viewer: { id: owner.id } } },
    });
    const response = await fetch(`${running.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${owner.token}` },
      body: JSON.stringify({ extensions: persistedQuery(sha256(text)) }),
    });
    expect(await response.json()).toEqual({ data: { viewer: { id: owner.id } } });
  });

  it("answers a documentId with PERSISTED_QUERY_NOT_SUPPORTED when no manifest is set (HTTP 400 and the socket)", async () => {
    const response = await fetch(`${running.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ documentId: sha256("{ __typename }") }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Result;
    expect(codes(body)).toEqual(["PERSISTED_QUERY_NOT_SUPPORTED"]);
    const refused = await outcome(client(null), { documentId: sha256("{ __typename }") });
    expect("errors" in refused && refused.errors.map((e) => e.extensions?.code)).toEqual([
      "PERSISTED_QUERY_NOT_SUPPORTED",
    ]);
    // With its text as well, the text runs: the id is ignored.
    expect(await outcome(client(null), { query: "{ __typename }", documentId: "x" })).toEqual({
      result: { data: { __typename: "Query" } },
    });
  });

  it("refuses an upgrade from a foreign browser origin, and another path", async () => {
    expect(await connectRaw(wsUrl, {}, { origin: "https://evil.example" })).toMatchObject({ code: -403 });
    expect(await connectRaw(wsUrl, {}, { origin: "https://app.example.com" })).toHaveProperty("ack");
    expect(await connectRaw(wsUrl.replace("/graphql", "/other"), {})).toMatchObject({ code: -404 });
  });

  it.each([
    ["demoted to READ", "FORBIDDEN"],
    ["removed from the organization", "FORBIDDEN"],
    ["whose token is revoked", "UNAUTHENTICATED"],
  ] as const)("ends the stream of an admin %s with %s", async (change, code) => {
    const owner = await seed.user();
    const orgId = await seed.org(owner.id);
    const watcher = await seed.user();
    await seed.member(orgId, watcher.id, "ADMIN");
    // Changed once the stream is live (a token revoked before the connection is acknowledged: 4403).
    const operationName = `WsRecheck${change.split(" ")[0]}${kind}`;
    const sub = run(client(watcher.token), watch(operationName), { o: orgId });
    await untilStreaming(operationName);
    const where = { organizationId_userId: { organizationId: orgId, userId: watcher.id } };
    if (change === "demoted to READ") await running.database.prisma.member.update({ where, data: { role: "READ" } });
    else if (change === "removed from the organization") await running.database.prisma.member.delete({ where });
    else await revokeToken(running.database.prisma, watcher.token);
    expect(await sub.ended).toEqual({ complete: true });
    expect(sub.results.map(codes)).toEqual([[code]]);
  });
});

describe("GraphQL over WebSocket: shutdown", () => {
  it("closes open connections with 1001 (Going Away) and the server stops", async () => {
    const running = await startServer(
      loadConfig({ DATA_DIR: "memory://", HOST: "127.0.0.1", PORT: "0", RATE_LIMIT_PER_MINUTE: "1000000" }),
      createLogger("silent"),
    );
    const { user, token } = await createUserWithToken(running.database.prisma, { email: uniqueEmail("ws-down") });
    const orgId = (await createOrganization(running.database.prisma, user.id, "Down")).id;
    let closedWith: number | undefined;
    const c = createClient({
      url: `${running.url.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
      on: {
        closed: (event) => {
          closedWith = (event as { code: number }).code;
        },
      },
    });
    try {
      const sub = run(c, SUBSCRIBE, { o: orgId });
      await sleep(300);
      await running.close();
      await until("the client to see the close", () => closedWith !== undefined);
      expect(closedWith).toBe(1001);
      expect(await sub.ended).toHaveProperty("error");
    } finally {
      await c.dispose();
      await running.close();
    }
  });
});

describe("GraphQL over WebSocket: the request rate limit", () => {
  it("counts the connection and each operation against the caller's RATE_LIMIT_PER_MINUTE", async () => {
    const running = await startServer(
      loadConfig({ DATA_DIR: "memory://", HOST: "127.0.0.1", PORT: "0", RATE_LIMIT_PER_MINUTE: "4" }),
      createLogger("silent"),
    );
    const { token } = await createUserWithToken(running.database.prisma, { email: uniqueEmail("ws-rate") });
    const url = `${running.url.replace("http", "ws")}/graphql`;
    const c = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
      // One connection throughout (a lazy client closes it between operations, and each connect counts).
      lazy: false,
    });
    try {
      // connection_init is the first of four.
      for (let i = 0; i < 3; i += 1) expect((await once(c, "{ viewer { id } }")).errors).toBeUndefined();
      const op = run(c, "{ viewer { id } }");
      const end = await op.ended;
      expect(op.results).toEqual([]);
      expect((end as { error: { extensions?: Record<string, unknown> }[] }).error).toEqual([
        {
          message: expect.stringMatching(/^Too many requests/),
          extensions: { code: "RATE_LIMITED", retryAfter: expect.any(Number) },
        },
      ]);
      // A new connection past the limit is closed with 4429.
      expect(await connectRaw(url, { Authorization: `Bearer ${token}` })).toMatchObject({ code: 4429 });
    } finally {
      await c.dispose();
      await running.close();
    }
  });
});

describe("graphql-ws with trusted documents enforced", () => {
  const dir = mkdtempSync(join(tmpdir(), "igw-ws-trusted-"));
  const listed = "{ __typename }";
  const hash = createHash("sha256").update(listed).digest("hex");
  let running: RunningServer;
  let client: Client;

  beforeAll(async () => {
    const manifest = join(dir, "persisted-documents.json");
    writeFileSync(manifest, JSON.stringify({ [hash]: listed }));
    const config = loadConfig({
      DATA_DIR: "memory://",
      HOST: "127.0.0.1",
      PORT: "0",
      PERSISTED_DOCUMENTS: manifest,
      PERSISTED_DOCUMENTS_MODE: "enforce",
    });
    running = await startServer(config, createLogger("silent"));
    client = createClient({
      url: `${running.url.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
  });
  afterAll(async () => {
    await client?.dispose();
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs a listed document named by its hash", async () => {
    const result = await new Promise<unknown>((resolve, reject) => {
      client.subscribe(
        { query: "", extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
        { next: resolve, error: reject, complete: () => {} },
      );
    });
    expect(result).toEqual({ data: { __typename: "Query" } });
  });

  it("has no APQ, as over HTTP: a hash with its text is free text, a hash alone unknown", async () => {
    const text = "{ viewer { id } }";
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(text) } };
    const registering = await outcome(client, { query: text, extensions });
    expect("errors" in registering && registering.errors.map((e) => e.extensions?.code)).toEqual([
      "PERSISTED_QUERY_ONLY",
    ]);
    const alone = await outcome(client, { extensions });
    expect("errors" in alone && alone.errors.map((e) => e.extensions?.code)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
  });

  it("refuses free text with PERSISTED_QUERY_ONLY, as over HTTP: the socket is no way around the manifest", async () => {
    const ended = await run(client, "{ viewer { id } }").ended;
    expect(
      "error" in ended && (ended.error as Array<{ extensions?: { code?: string } }>).map((e) => e.extensions?.code),
    ).toEqual(["PERSISTED_QUERY_ONLY"]);
  });
});

describe("graphql-ws behind a trusted proxy (TRUST_PROXY)", () => {
  let running: RunningServer;
  const sockets: WebSocket[] = [];
  beforeAll(async () => {
    const config = loadConfig({
      DATA_DIR: "memory://",
      HOST: "127.0.0.1",
      PORT: "0",
      TRUST_PROXY: "true",
      WS_MAX_CONNECTIONS_PER_CALLER: "1",
    });
    running = await startServer(config, createLogger("silent"));
  });
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await running?.close();
  });

  it("counts anonymous connections per X-Forwarded-For address, as HTTP's rate limit does", async () => {
    const url = `${running.url.replace("http", "ws")}/graphql`;
    const from = (address: string) => ({ "x-forwarded-for": `203.0.113.99, ${address}` });
    const open = async (address: string) => {
      const made = await connectRaw(url, {}, from(address));
      if ("ack" in made) sockets.push(made.socket);
      return "ack" in made ? "ack" : made.code;
    };
    // One socket address (127.0.0.1), two clients behind the proxy: one connection each.
    expect(await open("198.51.100.1")).toBe("ack");
    expect(await open("198.51.100.2")).toBe("ack");
    expect(await open("198.51.100.1")).toBe(4429);
  });
});
