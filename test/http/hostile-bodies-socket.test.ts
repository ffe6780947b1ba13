/**
 * Hostile requests where the transport matters, over a real socket to the real listener
 * (src/server.ts on 127.0.0.1, a free port): invalid UTF-8 bytes, chunked bodies, a wrong
 * Content-Length, bodies over MAX_BODY_BYTES (and the request after one on the same connection), a
 * client that closes the connection half-way, a Host header that makes no URL. Each gets a 4xx (from Node's HTTP parser, or with a code from the
 * handler), never a 5xx, and no error-level log line; /graphql and /ready answer after them.
 * (test/http/hostile-bodies.test.ts covers the rest through `yoga.fetch`.)
 */
import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { postInChunks } from "../helpers/socket.js";
import { until } from "../helpers/wait.js";

describe("hostile requests over a real socket", () => {
  let running: RunningServer;
  let port = 0;
  const lines: Array<{ level: number; msg: string; status?: number; errorCodes?: string[]; path?: string }> = [];

  beforeAll(async () => {
    const logger = createLogger("info", { write: (line: string) => void lines.push(JSON.parse(line)) });
    running = await startServer(
      loadConfig({
        DATA_DIR: "memory://",
        HOST: "127.0.0.1",
        PORT: "0",
        RATE_LIMIT_PER_MINUTE: "1000000",
        // Small, so that a body over it is sent whole before the answer (test/http/limits.test.ts does the same).
        MAX_BODY_BYTES: "20000",
      }),
      logger,
    );
    port = Number(new URL(running.url).port);
  });
  afterAll(async () => {
    await running?.close();
  });

  /** Writes `parts` as they are on a new connection; the whole answer once the server closes it. */
  const raw = (parts: Array<string | Buffer>, end = true): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString("latin1");
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      for (const part of parts) socket.write(part);
      if (end) socket.end();
    });
  const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  const head = (lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;

  /** A request through Node's client: status, and the body as text. */
  const send = (
    method: string,
    path: string,
    headers: Record<string, string | number>,
    body?: Buffer | string,
  ): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method, headers }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      req.end(body);
    });

  const expectCoded = (answer: { status: number; text: string }) => {
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
    expect(answer.status, answer.text).toBeLessThan(500);
    const body = JSON.parse(answer.text) as {
      errors?: Array<{ extensions?: { code?: string } }>;
      error?: { reason?: string };
    };
    const codes = body.errors ? body.errors.map((e) => e.extensions?.code) : [body.error?.reason];
    expect(
      codes.every((code) => typeof code === "string"),
      answer.text,
    ).toBe(true);
    return codes;
  };

  const errorLines = () => lines.filter((line) => line.level >= 50);

  it("answers invalid UTF-8 and encoded surrogates in a body with a 4xx or an error with a code", async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"query":"{ __typename } '),
      Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]),
      Buffer.from('","variables":{"v":"'),
      Buffer.from([0xed, 0xb0, 0x80, 0xf8]),
      Buffer.from('"}}'),
    ]);
    const json = { "content-type": "application/json", "content-length": bytes.length };
    const graphql = await send("POST", "/graphql", json, bytes);
    expect(graphql.status, graphql.text).toBeLessThan(500);
    const errors = (JSON.parse(graphql.text) as { errors?: Array<{ extensions?: { code?: string } }> }).errors ?? [];
    expect(
      errors.every((e) => typeof e.extensions?.code === "string"),
      graphql.text,
    ).toBe(true);
    const emails = Buffer.concat([
      Buffer.from('{"emails":["'),
      Buffer.from([0xed, 0xa0, 0x80, 0xff]),
      Buffer.from('@x.io"]}'),
    ]);
    const rest = await send("POST", "/v1/orgs/some-org/invites", { ...json, "content-length": emails.length }, emails);
    expectCoded(rest);
  });

  it("answers bodies over MAX_BODY_BYTES with 413 REQUEST_ENTITY_TOO_LARGE, declared or chunked, and the next request too", async () => {
    // A chunked body is read until it passes the limit, and the reading stops there, which ends the
    // connection. The 413 said keep-alive: the client's next request on the same connection (Node's
    // agent keeps it) got a reset instead of an answer. It now closes the connection.
    const justOver = JSON.stringify({ query: `{ __typename } # ${"x".repeat(25_000)}` });
    const farOver = JSON.stringify({ query: `{ __typename } # ${"x".repeat(1_100_000)}` });
    const small = '{"query":"{ __typename }"}';
    for (const path of ["/graphql", "/v1/orgs/some-org/invites"]) {
      for (const large of [justOver, farOver]) {
        const chunked = await postInChunks(port, path, large);
        expect(chunked.status).toBe(413);
        expect(expectCoded({ status: chunked.status, text: chunked.body })).toEqual(["REQUEST_ENTITY_TOO_LARGE"]);
        const declared = await postInChunks(port, path, large, Buffer.byteLength(large));
        expect(declared.status).toBe(413);
        const next = await postInChunks(port, path, small);
        expect(next.status, next.body).toBeLessThan(500);
      }
    }
    const closing = await new Promise<string | undefined>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/graphql",
          method: "POST",
          headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
        },
        (res) => {
          res.resume();
          resolve(res.headers.connection);
        },
      );
      req.on("error", reject);
      req.end(farOver);
    });
    expect(closing).toBe("close");
  });

  it("lets Node refuse malformed framing with 400, and keeps no half-read request", async () => {
    const json = '{"query":"{ __typename }"}';
    const post = (path: string, headers: string[]) =>
      head([`POST ${path} HTTP/1.1`, "Host: localhost", "Content-Type: application/json", ...headers]);
    for (const path of ["/graphql", "/v1/orgs/some-org/invites"]) {
      // A chunk size that is not hex; an unterminated chunked body; both framings at once.
      expect(statusOf(await raw([post(path, ["Transfer-Encoding: chunked"]), `zz\r\n${json}\r\n0\r\n\r\n`]))).toBe(400);
      expect(statusOf(await raw([post(path, ["Transfer-Encoding: chunked"]), `1a\r\n${json}\r\n`]))).toBe(400);
      const both = [post(path, ["Transfer-Encoding: chunked", "Content-Length: 5"]), `1a\r\n${json}\r\n0\r\n\r\n`];
      expect(statusOf(await raw(both))).toBe(400);
      // A Content-Length past the bytes sent, then the end of the connection's writing half.
      expect(statusOf(await raw([post(path, [`Content-Length: ${json.length + 50}`]), json]))).toBe(400);
      // A Content-Length short of them: the rest is a second request, and not one Node can read.
      const short = await raw([post(path, ["Content-Length: 5"]), json]);
      expect(
        short.match(/^HTTP\/1\.1 \d{3}/gm)?.every((s) => Number(s.slice(9)) < 500),
        short,
      ).toBe(true);
    }
    expect(errorLines()).toEqual([]);
  });

  it("answers a body cut short by a closed connection with 400 BAD_REQUEST, logged at info, not as a crash or an outage", async () => {
    // Was: /graphql a 503 SERVICE_UNAVAILABLE (Node's ECONNRESET "aborted" looked like a lost
    // database connection to masking), /v1 a 500; both logged at error level.
    const cut = async (path: string, framing: string, partial: string) => {
      const before = lines.length;
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.write(head([`POST ${path} HTTP/1.1`, "Host: localhost", "Content-Type: application/json", framing]));
      socket.write(partial);
      // Long enough for the handler to start reading the body (not a timing assertion).
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.destroy();
      return until(`the log line of ${path}`, () =>
        lines.slice(before).find((line) => line.msg === "graphql request" || line.msg === "rest request"),
      );
    };
    const cases: Array<[string, string, string]> = [
      ["/graphql", "Content-Length: 1000", '{"query":"{ __ty'],
      ["/graphql", "Transfer-Encoding: chunked", '5\r\n{"que'],
      ["/v1/orgs/some-org/invites", "Content-Length: 1000", '{"emails":['],
      ["/v1/orgs/some-org/invites", "Transfer-Encoding: chunked", '5\r\n{"ema'],
    ];
    for (const [path, framing, partial] of cases) {
      const line = await cut(path, framing, partial);
      expect(line, `${path} ${framing}`).toMatchObject({ level: 30, status: 400, errorCodes: ["BAD_REQUEST"] });
    }
    expect(errorLines()).toEqual([]);
  });

  it("answers a Host header that makes no URL with 400 BAD_REQUEST, without a stack trace", async () => {
    // Was: a 500 whose text/plain body was the TypeError's stack, file paths and all.
    for (const host of ["a b", "[::::bad", "x:port"]) {
      const graphql = await send(
        "POST",
        "/graphql",
        { host, "content-type": "application/json" },
        '{"query":"{ __typename }"}',
      );
      expect(graphql.status).toBe(400);
      expect(expectCoded(graphql)).toEqual(["BAD_REQUEST"]);
      expect(graphql.text).not.toMatch(/at |node_modules/);
      const rest = await send("GET", "/v1/orgs/some-org/link-invites", { host });
      expect(rest.status).toBe(400);
      expect(expectCoded(rest)).toEqual(["BAD_REQUEST"]);
    }
    expect(errorLines()).toEqual([]);
  });

  it("still answers /graphql and /ready after all of it", async () => {
    const answer = await send("POST", "/graphql", { "content-type": "application/json" }, '{"query":"{ __typename }"}');
    expect(JSON.parse(answer.text)).toEqual({ data: { __typename: "Query" } });
    expect((await send("GET", "/ready", {})).status).toBe(200);
    expect(errorLines()).toEqual([]);
  });
});
