import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { createObservability } from "../../src/http/plugins/observability.js";
import { createGraphQLHandler } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { uniqueEmail } from "../helpers/app.js";
import { DB_KINDS, openTestDatabase } from "../helpers/db.js";
import { NO_DATABASE_ENV, startTestServer } from "../helpers/server.js";

type LogLine = Record<string, unknown> & { msg?: string; reqId?: string };

/** A pino destination that keeps every line, parsed. */
function captureLogs() {
  const lines: LogLine[] = [];
  return {
    lines,
    stream: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    requests: () => lines.filter((l) => l.msg === "graphql request"),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe.each(DB_KINDS)("request ids, request logs and /metrics (%s)", (kind) => {
  const logs = captureLogs();
  let running: RunningServer;
  let token: string;
  let userId: string;

  beforeAll(async () => {
    running = await startTestServer(kind, { METRICS_MAX_OPERATION_NAMES: "3" }, createLogger("info", logs.stream));
    const { user, token: t } = await createUserWithToken(running.database.prisma, { email: uniqueEmail("obs") });
    token = t;
    userId = user.id;
  });
  afterAll(async () => {
    await running?.close();
  });

  const gql = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${running.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  it("echoes a valid x-request-id, replaces an invalid one and makes one up when there is none", async () => {
    const given = await gql({ query: "{ __typename }" }, { "x-request-id": "client-id_42.a:b" });
    expect(given.headers.get("x-request-id")).toBe("client-id_42.a:b");

    const tooLong = await gql({ query: "{ __typename }" }, { "x-request-id": "x".repeat(129) });
    expect(tooLong.headers.get("x-request-id")).toMatch(UUID);
    const withSpace = await gql({ query: "{ __typename }" }, { "x-request-id": "two words" });
    expect(withSpace.headers.get("x-request-id")).toMatch(UUID);

    const none1 = await gql({ query: "{ __typename }" });
    const none2 = await gql({ query: "{ __typename }" });
    expect(none1.headers.get("x-request-id")).toMatch(UUID);
    expect(none2.headers.get("x-request-id")).toMatch(UUID);
    expect(none1.headers.get("x-request-id")).not.toBe(none2.headers.get("x-request-id"));
  });

  it("puts the request id on every response: errors, /health, /ready, /metrics, unknown paths, CSRF refusals", async () => {
    const headers = { "x-request-id": "rid-every-response" };
    const denied = await gql({ query: "{ viewer { id } }" }, { ...headers, authorization: "Bearer igw_not_a_token" });
    expect(denied.status).toBe(401);
    const csrf = await fetch(`${running.url}/graphql?query=${encodeURIComponent("{ __typename }")}`, { headers });
    expect(csrf.status).toBe(403);
    for (const response of [
      denied,
      csrf,
      await fetch(`${running.url}/health`, { headers }),
      await fetch(`${running.url}/ready`, { headers }),
      await fetch(`${running.url}/metrics`, { headers }),
      await fetch(`${running.url}/nowhere`, { headers }),
    ]) {
      expect(response.headers.get("x-request-id"), response.url).toBe("rid-every-response");
    }
    expect((await fetch(`${running.url}/health`)).headers.get("x-request-id")).toMatch(UUID);
  });

  it("logs one line per GraphQL request with its id, operation, viewer, outcome, status and duration", async () => {
    const before = logs.requests().length;
    const ok = await gql(
      { query: "query WhoAmI { viewer { id } }", operationName: "WhoAmI" },
      { authorization: `Bearer ${token}`, "x-request-id": "rid-ok" },
    );
    expect(await ok.json()).toEqual({ data: { viewer: { id: userId } } });
    const forbidden = await gql(
      { query: 'query Org { organization(id: "nope") { id } }' },
      { authorization: `Bearer ${token}`, "x-request-id": "rid-forbidden" },
    );
    expect(forbidden.status).toBe(200);
    await gql({ query: "mutation { createOrganization(input: { title: 1 }) }" }, { "x-request-id": "rid-invalid" });

    const lines = logs.requests().slice(before);
    expect(lines).toHaveLength(3);
    const [first, second, third] = lines;
    expect(first).toMatchObject({
      level: 30,
      service: "invites-gateway",
      reqId: "rid-ok",
      method: "POST",
      operationName: "WhoAmI",
      operationType: "query",
      viewerId: userId,
      outcome: "ok",
      status: 200,
    });
    expect(first?.durationMs).toEqual(expect.any(Number));
    expect(first?.errorCodes).toBeUndefined();
    expect(first?.traceId).toBeUndefined(); // no OTEL_* variable: no tracing
    expect(second).toMatchObject({
      reqId: "rid-forbidden",
      operationName: "Org",
      operationType: "query",
      viewerId: userId,
      outcome: "error",
      errorCodes: ["FORBIDDEN"],
      status: 200,
    });
    expect(third).toMatchObject({
      reqId: "rid-invalid",
      operationType: "mutation",
      viewerId: null,
      outcome: "error",
      errorCodes: ["GRAPHQL_VALIDATION_FAILED"],
    });
    // Never the token, nor the document or its variables.
    const text = JSON.stringify(lines);
    expect(text).not.toContain(token);
    expect(text).not.toContain("organization(");
  });

  it("serves Prometheus metrics: requests by operation and outcome, latency, runtime and (PostgreSQL) pool", async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 3; i++) await gql({ query: "query Counted { viewer { id } }" }, auth);
    await gql({ query: 'query Denied { organization(id: "x") { id } }' }, auth);
    await gql({ query: "{ viewer { id } }" }, auth);
    // METRICS_MAX_OPERATION_NAMES=3: names past the first three distinct ones count as "other".
    for (const name of ["ExtraA", "ExtraB", "ExtraC", "ExtraD"]) await gql({ query: `query ${name} { __typename }` });

    const response = await fetch(`${running.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    // The first three distinct names (WhoAmI, Org from the test above... or these) are kept; count ours.
    const counted = value('graphql_requests_total{operation_type="query",operation_name="Counted",outcome="ok"}');
    const other = value('graphql_requests_total{operation_type="query",operation_name="other",outcome="ok"}');
    expect((counted ?? 0) + (other ?? 0)).toBeGreaterThanOrEqual(3);
    expect(
      value('graphql_requests_total{operation_type="query",operation_name="anonymous",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(
      /graphql_requests_total\{operation_type="query",operation_name="(Denied|other)",outcome="FORBIDDEN"\} [1-9]/,
    );
    expect(text).toMatch(
      /graphql_requests_total\{operation_type="none",operation_name="none",outcome="BAD_REQUEST"\} [1-9]/,
    );
    // Bounded: no label for names past the cap.
    const names = new Set([...text.matchAll(/operation_name="([^"]+)"/g)].map((m) => m[1]));
    expect(names.has("ExtraD")).toBe(false);
    expect([...names].filter((n) => !["anonymous", "other", "none"].includes(n as string)).length).toBeLessThanOrEqual(
      3,
    );

    expect(text).toContain("# TYPE graphql_request_duration_seconds histogram");
    expect(text).toMatch(
      /graphql_request_duration_seconds_bucket\{le="\+Inf",operation_type="query",operation_name="anonymous"\} [1-9]/,
    );
    expect(text).toMatch(
      /graphql_request_duration_seconds_count\{operation_type="query",operation_name="anonymous"\} [1-9]/,
    );
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
    expect(text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
    expect(text).toContain("# TYPE nodejs_heap_size_used_bytes gauge");
    if (kind === "postgres") {
      expect(value("db_pool_connections_total")).toBeGreaterThanOrEqual(1);
      expect(value("db_pool_connections_idle")).toBeGreaterThanOrEqual(0);
      expect(value("db_pool_requests_waiting")).toBe(0);
    } else {
      expect(text).not.toContain("db_pool_");
    }
  });
});

describe("request logs and metrics of early responses (yoga.fetch)", () => {
  it("a 429 from the rate limit has its x-request-id, its log line and its count", async () => {
    const testDb = await openTestDatabase("pglite", { RATE_LIMIT_PER_MINUTE: "1" });
    const logs = captureLogs();
    const metrics = createMetrics({ maxOperationNames: 10 });
    const yoga = createGraphQLHandler({
      db: testDb.database.prisma,
      config: testDb.config,
      logger: createLogger("info", logs.stream),
      metrics,
    });
    try {
      const post = () =>
        yoga.fetch("http://localhost/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": "rid-limited" },
          body: JSON.stringify({ query: "query Q { __typename }" }),
        });
      expect((await post()).status).toBe(200);
      const refused = await post();
      expect(refused.status).toBe(429);
      expect(refused.headers.get("x-request-id")).toBe("rid-limited");
      expect(logs.requests().at(-1)).toMatchObject({
        reqId: "rid-limited",
        outcome: "error",
        errorCodes: ["RATE_LIMITED"],
        status: 429,
      });
      const text = await metrics.render();
      expect(text).toContain(
        'graphql_requests_total{operation_type="none",operation_name="none",outcome="RATE_LIMITED"} 1',
      );
      // An anonymous caller's operation names are no labels (it could use up the slots with made-up ones).
      expect(text).toContain(
        'graphql_requests_total{operation_type="query",operation_name="anonymous",outcome="ok"} 1',
      );
      expect(text).not.toContain('operation_name="Q"');
    } finally {
      await yoga.dispose();
      await testDb.close();
    }
  });
});

describe("metrics of REST twin requests (yoga.fetch)", () => {
  it("count a /v1 request once: as its GraphQL operation when it runs one, else itself (a 404, a 429)", async () => {
    const testDb = await openTestDatabase("pglite", { RATE_LIMIT_PER_MINUTE: "3" });
    const metrics = createMetrics({ maxOperationNames: 10 });
    const logs = captureLogs();
    const yoga = createGraphQLHandler({
      db: testDb.database.prisma,
      config: testDb.config,
      logger: createLogger("info", logs.stream),
      metrics,
    });
    try {
      const { token } = await createUserWithToken(testDb.database.prisma, { email: uniqueEmail("rest-metrics") });
      const v1 = (path: string, rid: string) =>
        yoga.fetch(`http://localhost/v1${path}`, {
          headers: { authorization: `Bearer ${token}`, "x-request-id": rid },
        });
      expect((await v1("/orgs/no-such-org/link-invites", "rid-m-403")).status).toBe(403);
      expect((await v1("/no-such-route", "rid-m-404")).status).toBe(404);
      expect((await v1("/openapi.json", "rid-m-200")).status).toBe(200);
      expect((await v1("/openapi.json", "rid-m-429")).status).toBe(429);
      // And one log line each, the /v1 request's.
      expect(logs.lines.map((l) => [l.reqId, l.msg, l.status, l.errorCodes])).toEqual([
        ["rid-m-403", "rest request", 403, ["FORBIDDEN"]],
        ["rid-m-404", "rest request", 404, ["NOT_FOUND"]],
        ["rid-m-200", "rest request", 200, undefined],
        ["rid-m-429", "rest request", 429, ["RATE_LIMITED"]],
      ]);
      const text = await metrics.render();
      const count = (labels: string) =>
        Number(text.match(new RegExp(`^graphql_requests_total\\{${labels}\\} (\\d+)$`, "m"))?.[1] ?? 0);
      // The route's GraphQL request, by its operation; not a second time as the /v1 request.
      expect(count('operation_type="query",operation_name="RestListLinks",outcome="FORBIDDEN"')).toBe(1);
      expect(count('operation_type="none",operation_name="none",outcome="error"')).toBe(1);
      expect(count('operation_type="none",operation_name="none",outcome="ok"')).toBe(1);
      expect(count('operation_type="none",operation_name="none",outcome="RATE_LIMITED"')).toBe(1);
      const total = [...text.matchAll(/^graphql_requests_total\{[^}]*\} (\d+)$/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
      expect(total).toBe(4);
    } finally {
      await yoga.dispose();
      await testDb.close();
    }
  });
});

describe("log lines of REST twin requests (yoga.fetch)", () => {
  it("one line per /v1 request: the client's method, route and status, the operation's name, viewer and codes", async () => {
    const testDb = await openTestDatabase("pglite");
    const db = testDb.database.prisma;
    const logs = captureLogs();
    const yoga = createGraphQLHandler({ db, config: testDb.config, logger: createLogger("info", logs.stream) });
    try {
      const owner = await createUserWithToken(db, { email: uniqueEmail("rest-log-owner") });
      const stranger = await createUserWithToken(db, { email: uniqueEmail("rest-log-stranger") });
      const org = await createOrganization(db, owner.user.id, "Logged");
      const v1 = async (rid: string, method: string, path: string, token?: string, body?: unknown) => {
        const headers: Record<string, string> = { "x-request-id": rid };
        if (token) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers["content-type"] = "application/json";
        const response = await yoga.fetch(`http://localhost/v1${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
      };
      const created = await v1("rid-r-create", "POST", `/orgs/${org.id}/link-invites`, owner.token, { role: "read" });
      expect(created.status).toBe(201);
      const link = created.json?.id as string;
      const invite = { emails: [uniqueEmail()] };
      expect((await v1("rid-r-invite", "POST", `/orgs/${org.id}/invites`, owner.token, invite)).status).toBe(200);
      expect((await v1("rid-r-403", "GET", `/orgs/${org.id}/link-invites/${link}`, stranger.token)).status).toBe(403);
      expect((await v1("rid-r-401", "DELETE", `/orgs/${org.id}/link-invites/${link}`)).status).toBe(401);
      expect((await v1("rid-r-result", "POST", `/orgs/${org.id}/join`, owner.token)).status).toBe(400);
      const badBody = { role: "king" };
      expect(
        (await v1("rid-r-400", "PATCH", `/orgs/${org.id}/link-invites/${link}`, owner.token, badBody)).status,
      ).toBe(400);
      expect((await v1("rid-r-404", "GET", "/no-such-route", owner.token)).status).toBe(404);
      expect((await v1("rid-r-405", "DELETE", "/openapi.json")).status).toBe(405);
      expect((await v1("rid-r-doc", "GET", "/openapi.json")).status).toBe(200);

      const lineOf = (rid: string) => {
        const lines = logs.lines.filter((l) => l.reqId === rid);
        expect(lines, rid).toHaveLength(1);
        expect(lines[0]?.durationMs, rid).toEqual(expect.any(Number));
        return lines[0];
      };
      const links = "/v1/orgs/{organizationId}/link-invites";
      const ok = { msg: "rest request", outcome: "ok" };
      const error = { msg: "rest request", outcome: "error" };
      expect(lineOf("rid-r-create")).toMatchObject({
        ...ok,
        method: "POST",
        path: links,
        operationName: "RestCreateLink",
        operationType: "mutation",
        viewerId: owner.user.id,
        status: 201,
      });
      expect(lineOf("rid-r-invite")).toMatchObject({
        ...ok,
        method: "POST",
        path: "/v1/orgs/{organizationId}/invites",
        operationName: "RestInviteUsers",
        operationType: "mutation",
        viewerId: owner.user.id,
        status: 200,
      });
      expect(lineOf("rid-r-403")).toMatchObject({
        ...error,
        method: "GET",
        path: `${links}/{inviteId}`,
        operationName: "RestGetLink",
        operationType: "query",
        viewerId: stranger.user.id,
        errorCodes: ["FORBIDDEN"],
        status: 403,
      });
      expect(lineOf("rid-r-401")).toMatchObject({
        ...error,
        method: "DELETE",
        operationName: "RestRevokeLink",
        viewerId: null,
        errorCodes: ["UNAUTHENTICATED"],
        status: 401,
      });
      // An error result of the mutation (data for GraphQL) is an error for the REST client: its code.
      expect(lineOf("rid-r-result")).toMatchObject({
        ...error,
        path: "/v1/orgs/{organizationId}/join",
        operationName: "RestJoinByDomain",
        viewerId: owner.user.id,
        errorCodes: ["ALREADY_MEMBER"],
        status: 400,
      });
      // Answered by the twin alone: no GraphQL operation ran (nor authentication).
      const alone = { ...error, operationType: "none", viewerId: null };
      expect(lineOf("rid-r-400")).toMatchObject({
        ...alone,
        method: "PATCH",
        path: `${links}/{inviteId}`,
        errorCodes: ["VALIDATION"],
        status: 400,
      });
      expect(lineOf("rid-r-404")).toMatchObject({
        ...alone,
        method: "GET",
        path: "/v1/no-such-route",
        errorCodes: ["NOT_FOUND"],
        status: 404,
      });
      expect(lineOf("rid-r-405")).toMatchObject({
        ...alone,
        method: "DELETE",
        path: "/v1/openapi.json",
        errorCodes: ["METHOD_NOT_ALLOWED"],
        status: 405,
      });
      expect(lineOf("rid-r-doc")).toMatchObject({ ...ok, method: "GET", path: "/v1/openapi.json", status: 200 });
      for (const rid of ["rid-r-create", "rid-r-invite", "rid-r-doc"])
        expect(lineOf(rid)).not.toHaveProperty("errorCodes");
      for (const rid of ["rid-r-400", "rid-r-404", "rid-r-405", "rid-r-doc"]) {
        expect(lineOf(rid)).not.toHaveProperty("operationName");
      }
      expect(logs.requests()).toEqual([]); // no "graphql request" line for the twin's own GraphQL requests
      expect(logs.lines).toHaveLength(9);
      // A link's id is its secret: in no line.
      expect(JSON.stringify(logs.lines)).not.toContain(link);
    } finally {
      await yoga.dispose();
      await testDb.close();
    }
  });
});

describe("unexpected errors", () => {
  it("are logged once, with the request's id, and masked for the client", async () => {
    const testDb = await openTestDatabase("pglite");
    const logs = captureLogs();
    const user = await createUserWithToken(testDb.database.prisma, { email: uniqueEmail("crash") });
    // A real client whose model queries crash (a bug, not a database failure); the token lookup is raw SQL.
    const db = testDb.database.prisma.$extends({
      query: {
        $allModels: {
          $allOperations: () => {
            throw new Error("boom: a bug in a resolver");
          },
        },
      },
    }) as unknown as typeof testDb.database.prisma;
    const yoga = createGraphQLHandler({ db, config: testDb.config, logger: createLogger("info", logs.stream) });
    try {
      const response = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${user.token}`,
          "x-request-id": "rid-crash",
        },
        body: JSON.stringify({ query: "query Mine { viewer { id organizations { role } } }" }),
      });
      const body = (await response.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
      expect(body.errors?.[0]).toMatchObject({
        message: "Unexpected error.",
        extensions: { code: "INTERNAL_SERVER_ERROR" },
      });
      const crashes = logs.lines.filter((l) => JSON.stringify(l).includes("boom: a bug"));
      expect(crashes).toHaveLength(1);
      expect(crashes[0]).toMatchObject({ level: 50, reqId: "rid-crash", msg: "unexpected error" });
      expect(logs.requests().at(-1)).toMatchObject({
        reqId: "rid-crash",
        outcome: "error",
        errorCodes: ["INTERNAL_SERVER_ERROR"],
      });
    } finally {
      await yoga.dispose();
      await testDb.close();
    }
  });
});

describe("unexpected errors in the REST twin", () => {
  it("are logged once with the request's id and answered as a 500 in the error shape, never with a stack", async () => {
    const testDb = await openTestDatabase("pglite");
    const base = testDb.database.prisma;
    const logs = captureLogs();
    const owner = await createUserWithToken(base, { email: uniqueEmail("rest-crash") });
    const org = await createOrganization(base, owner.user.id, "Deleted midway");
    // A real race: the organization is deleted after the shield rule let the admin through and before
    // the resolver reads it, so GraphQL answers `organization: null` without an error, a shape the
    // route does not expect.
    const db = base.$extends({
      query: {
        organization: {
          findUnique: async ({ args, query }) => {
            await base.organization.deleteMany({ where: { id: org.id } });
            return query(args);
          },
        },
      },
    }) as unknown as typeof base;
    const yoga = createGraphQLHandler({ db, config: testDb.config, logger: createLogger("info", logs.stream) });
    try {
      const response = await yoga.fetch(`http://localhost/v1/orgs/${org.id}/link-invites`, {
        headers: { authorization: `Bearer ${owner.token}`, "x-request-id": "rid-rest-crash" },
      });
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({
        error: { code: 500, message: "Unexpected error.", reason: "INTERNAL_SERVER_ERROR" },
      });
      expect(logs.lines.map((l) => [l.reqId, l.level, l.msg])).toEqual([
        ["rid-rest-crash", 50, "unexpected error"],
        ["rid-rest-crash", 50, "rest request"],
      ]);
      expect(logs.lines[0]?.err).toMatchObject({ type: "TypeError" });
      expect(logs.lines[1]).toMatchObject({
        operationName: "RestListLinks",
        viewerId: owner.user.id,
        errorCodes: ["INTERNAL_SERVER_ERROR"],
        status: 500,
      });
    } finally {
      await yoga.dispose();
      await testDb.close();
    }
  });
});

describe("the context's logger", () => {
  it("is a child logger whose lines carry the request's id", () => {
    const logs = captureLogs();
    const observability = createObservability(createLogger("info", logs.stream), undefined);
    const request = new Request("http://localhost/graphql", { headers: { "x-request-id": "rid-child" } });
    const scope = observability.scope(request);
    expect(scope.requestId).toBe("rid-child");
    scope.log.warn({ detail: 1 }, "something in a resolver");
    expect(logs.lines).toEqual([expect.objectContaining({ reqId: "rid-child", detail: 1, level: 40 })]);
    expect(observability.scope(request).log).toBe(scope.log); // one child per request
  });
});

describe("Node's runtime metrics", () => {
  it("do not keep a closed server's registry alive (prom-client never removes its GC observer)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const refs = (() => {
      // What a server's pool gauges read: src/db/client.ts's pool.
      const pool = { total: 1, idle: 1, waiting: 0 };
      const metrics = createMetrics({ maxOperationNames: 1, pool: () => pool });
      return { registry: new WeakRef(metrics.registry), pool: new WeakRef(pool) };
    })();
    // A WeakRef holds its target until the current job ends; after that a full GC may take it.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect({ registry: refs.registry.deref(), pool: refs.pool.deref() }).toEqual({
      registry: undefined,
      pool: undefined,
    });
  });

  it("are in every registry of the process", async () => {
    for (const metrics of [createMetrics({ maxOperationNames: 1 }), createMetrics({ maxOperationNames: 1 })]) {
      const text = await metrics.render();
      expect(text).toContain("# TYPE process_cpu_seconds_total counter");
      expect(text).toContain("# TYPE nodejs_gc_duration_seconds histogram");
      expect(text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
      expect(text).toContain("# TYPE graphql_requests_total counter");
    }
  });
});

describe("/metrics protection and switch", () => {
  let running: RunningServer | undefined;
  afterAll(async () => {
    await running?.close();
  });
  const env = NO_DATABASE_ENV;

  it("asks for METRICS_TOKEN as a bearer token when it is set", async () => {
    const secret = "metrics-secret-0123456789";
    running = await startServer(loadConfig({ ...env, METRICS_TOKEN: secret }));
    const none = await fetch(`${running.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await fetch(`${running.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const ok = await fetch(`${running.url}/metrics`, { headers: { authorization: `Bearer ${secret}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("graphql_requests_total");
    await running.close();
    running = undefined;
  });

  it("is not served with METRICS_ENABLED=false", async () => {
    running = await startServer(loadConfig({ ...env, METRICS_ENABLED: "false" }));
    expect((await fetch(`${running.url}/metrics`)).status).toBe(404);
  });
});
