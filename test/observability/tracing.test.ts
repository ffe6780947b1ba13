import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConfigError, loadConfig } from "../../src/config.js";
import { spanPath } from "../../src/observability/tracing.js";
import { runCliProcess, type ServerProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";

interface ReceivedSpan {
  scope: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: number;
  attributes: Record<string, unknown>;
  status?: { code?: number; message?: string };
  service: unknown;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  arrayValue?: { values: AnyValue[] };
};
function plain(value: AnyValue): unknown {
  if (value.arrayValue) return value.arrayValue.values.map(plain);
  return value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue);
}
function attributes(list: Array<{ key: string; value: AnyValue }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));
}

/** An OTLP/HTTP receiver on loopback that keeps the spans of every JSON export (POST /v1/traces). */
function otlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces" && req.headers["content-type"]?.includes("json")) {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: AnyValue }> };
            scopeSpans: Array<{ scope: { name: string }; spans: Array<Record<string, any>> }>;
          }>;
        };
        for (const rs of payload.resourceSpans) {
          const service = attributes(rs.resource.attributes)["service.name"];
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              spans.push({
                scope: ss.scope.name,
                name: s.name,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId || undefined,
                kind: s.kind,
                attributes: attributes(s.attributes),
                status: s.status,
                service,
              });
            }
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  return {
    spans,
    start: () =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function waitFor<T>(find: () => T | undefined, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("OpenTelemetry tracing through a real server process (OTLP/HTTP JSON to a loopback receiver)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-tracing-"));
  const receiver = otlpReceiver();
  let server: ServerProcess;
  let token: string;

  beforeAll(async () => {
    const endpoint = await receiver.start();
    const created = await runCliProcess(["user", "create", "--email", "traced@example.com"], { DATA_DIR: dataDir });
    expect(created.code, created.stderr).toBe(0);
    token = JSON.parse(created.stdout).token;
    server = await startServerProcess({
      DATA_DIR: dataDir,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    });
  });
  afterAll(async () => {
    await stopServerProcess(server);
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("exports the HTTP span, the GraphQL operation span under it and Prisma's query spans under that", async () => {
    // A caller's trace: the service's spans join it (W3C traceparent).
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpanId = "00f067aa0ba902b7";
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        traceparent: `00-${traceId}-${callerSpanId}-01`,
        "x-request-id": "rid-traced",
      },
      body: JSON.stringify({ query: "query Me { viewer { email organizations { role } } }" }),
    });
    expect(await response.json()).toEqual({ data: { viewer: { email: "traced@example.com", organizations: [] } } });

    const http = await waitFor(
      () => receiver.spans.find((s) => s.traceId === traceId && s.name === "POST /graphql"),
      "the HTTP span",
    );
    expect(http.parentSpanId).toBe(callerSpanId);
    expect(http.kind).toBe(2); // SERVER
    expect(http.service).toBe("invites-gateway");
    expect(http.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.response.status_code": 200,
      "igw.request_id": "rid-traced",
    });

    const operation = await waitFor(
      () => receiver.spans.find((s) => s.traceId === traceId && s.name === "query Me"),
      "the operation span",
    );
    expect(operation.parentSpanId).toBe(http.spanId);
    expect(operation.attributes).toMatchObject({ "graphql.operation.type": "query", "graphql.operation.name": "Me" });

    // Prisma: prisma:client:operation spans (the token lookup, made by the request rate limit
    // before the operation, under the HTTP span; the organizations of the viewer while executing,
    // under the operation span) with their db_query children.
    const queries = await waitFor(() => {
      const found = receiver.spans.filter((s) => s.traceId === traceId && s.name === "prisma:client:db_query");
      return found.length >= 2 ? found : undefined;
    }, "two Prisma db_query spans");
    const byId = new Map(receiver.spans.filter((s) => s.traceId === traceId).map((s) => [s.spanId, s]));
    for (const query of queries) {
      expect(query.scope).toBe("prisma");
      expect(String(query.attributes["db.query.text"])).toMatch(/SELECT/);
      // Up the chain of parents, every Prisma span reaches the HTTP span; through the operation
      // span unless it is the token lookup.
      let at: ReceivedSpan | undefined = query;
      const chain: string[] = [];
      while (at && at.spanId !== http.spanId) {
        chain.push(at.name);
        at = at.parentSpanId ? byId.get(at.parentSpanId) : undefined;
      }
      expect(at?.spanId, `chain: ${chain.join(" <- ")}`).toBe(http.spanId);
      expect(chain).toContain("prisma:client:operation");
      const tokenLookup = /"tokenHash"/.test(String(query.attributes["db.query.text"]));
      expect(chain.includes("query Me"), `chain: ${chain.join(" <- ")}`).toBe(!tokenLookup);
    }
    // The request's log line names the trace: logs and traces meet on traceId.
    const line = server
      .output()
      .split("\n")
      .find((l) => l.includes('"reqId":"rid-traced"'));
    expect(JSON.parse(line ?? "{}")).toMatchObject({ msg: "graphql request", traceId, operationName: "Me" });
    // No secret in any span: the bearer token, nor the SQL's parameters.
    expect(JSON.stringify(receiver.spans)).not.toContain(token);
    expect(JSON.stringify(receiver.spans)).not.toContain(token.slice(4, 20));
  });

  it("marks an operation with top-level errors and a request without a parent starts its own trace", async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'query Foreign { organization(id: "nope") { id } }' }),
    });
    expect(response.status).toBe(200);
    const operation = await waitFor(
      () => receiver.spans.find((s) => s.name === "query Foreign"),
      "the failing operation's span",
    );
    expect(operation.status?.code).toBe(2); // ERROR
    expect(operation.attributes["graphql.error.codes"]).toEqual(["FORBIDDEN"]);
    const http = receiver.spans.find((s) => s.spanId === operation.parentSpanId);
    expect(http?.name).toBe("POST /graphql");
    expect(http?.parentSpanId).toBeUndefined();
  });
  it("gives each operation over graphql-ws a span of its own (igw.transport ws), Prisma's spans under it", async () => {
    const client = createClient({
      url: `${server.url.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    const ended = (query: string) =>
      new Promise<unknown>((resolve) => {
        let first: unknown;
        client.subscribe(
          { query },
          {
            next: (value) => {
              first ??= value;
            },
            error: (error) => resolve(error),
            complete: () => resolve(first),
          },
        );
      });
    try {
      expect(await ended("query WsTraced { viewer { email organizations { role } } }")).toEqual({
        data: { viewer: { email: "traced@example.com", organizations: [] } },
      });
      const refused = await ended("query WsRefused { nope }");
      expect(refused).toEqual([expect.objectContaining({ extensions: { code: "GRAPHQL_VALIDATION_FAILED" } })]);
    } finally {
      await client.dispose();
    }
    const span = await waitFor(
      () => receiver.spans.find((s) => s.name === "query WsTraced"),
      "the socket operation's span",
    );
    expect(span.kind).toBe(2); // SERVER: no HTTP request above it
    expect(span.parentSpanId).toBeUndefined();
    expect(span.attributes).toMatchObject({
      "igw.transport": "ws",
      "graphql.operation.type": "query",
      "graphql.operation.name": "WsTraced",
      "igw.request_id": expect.any(String),
    });
    const underIt = await waitFor(() => {
      const found = receiver.spans.filter(
        (s) => s.traceId === span.traceId && s.name === "prisma:client:operation" && s.parentSpanId === span.spanId,
      );
      return found.length > 0 ? found : undefined;
    }, "a Prisma span under the socket operation's span");
    expect(underIt[0]?.scope).toBe("prisma");
    const failed = await waitFor(
      () => receiver.spans.find((s) => s.name === "query WsRefused"),
      "the refused one's span",
    );
    expect(failed.attributes).toMatchObject({
      "igw.transport": "ws",
      "graphql.error.codes": ["GRAPHQL_VALIDATION_FAILED"],
    });
    expect(failed.status?.code).toBe(2); // ERROR
    expect(JSON.stringify(receiver.spans)).not.toContain(token);
  });
});

describe("tracing is switched on by the OTEL_* variables only", () => {
  it("is off with none of them, on with an endpoint, exporter or service name, off when disabled", () => {
    expect(loadConfig({}).tracing).toEqual({ enabled: false, serviceName: "invites-gateway" });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }).tracing.enabled).toBe(true);
    expect(loadConfig({ OTEL_TRACES_EXPORTER: "console" }).tracing.enabled).toBe(true);
    expect(loadConfig({ OTEL_SERVICE_NAME: "invites" }).tracing).toEqual({ enabled: true, serviceName: undefined });
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_RESOURCE_ATTRIBUTES: "service.name=x" })
        .tracing.serviceName,
    ).toBeUndefined();
    expect(loadConfig({ OTEL_TRACES_EXPORTER: "none", OTEL_SERVICE_NAME: "x" }).tracing.enabled).toBe(false);
    expect(
      loadConfig({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }).tracing.enabled,
    ).toBe(false);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: "jaeger" })).toThrow(ConfigError);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: "jaeger" })).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: "udp" })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
  });
});

describe("what a span may say of the path", () => {
  it("keeps /graphql, names the ids of REST twin paths, and leaves other paths out", () => {
    expect(spanPath("/graphql")).toBe("/graphql");
    expect(spanPath("/v1/orgs/org-1/link-invites/LinkSecret_123")).toBe(
      "/v1/orgs/{organizationId}/link-invites/{inviteId}",
    );
    expect(spanPath("/v1/orgs/org-1/invites/LinkSecret_123")).toBe("/v1/orgs/{organizationId}/invites/{inviteId}");
    expect(spanPath("/v1/orgs/org-1/link-invites")).toBe("/v1/orgs/{organizationId}/link-invites");
    expect(spanPath("/v1/openapi.json")).toBe("/v1/openapi.json");
    expect(spanPath("/LinkSecret_123")).toBeUndefined();
  });
});
