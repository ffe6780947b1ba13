import { createServer, type Server, type Socket } from "node:net";
import { GraphQLError } from "graphql";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createDatabase, type Database } from "../../src/db/client.js";
import { databaseFailure } from "../../src/domain/tx.js";
import { ruleTree } from "../../src/graphql/permissions.js";
import { createGraphQLHandler } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";

// A database that fails, without a PostgreSQL server: a closed port (connection refused), a port
// that accepts and never answers, and a fake server that refuses the startup with a FATAL error as
// PostgreSQL does while it starts or stops. Real pg, real @prisma/adapter-pg, real Prisma: what they
// throw must be classified, not masked as "Unexpected error.". The stress suite
// (test/stress/faults.test.ts) does the same against a real PostgreSQL that restarts or is saturated.

const servers: Server[] = [];
const sockets: Socket[] = [];
const databases: Database[] = [];

async function listen(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return (server.address() as { port: number }).port;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A PostgreSQL ErrorResponse message (severity FATAL). */
function fatal(code: string, message: string): Buffer {
  const field = (type: string, value: string) => Buffer.from(`${type}${value}\0`, "utf8");
  const body = Buffer.concat([
    field("S", "FATAL"),
    field("V", "FATAL"),
    field("C", code),
    field("M", message),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write("E", 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

async function openDatabase(port: number, env: Record<string, string> = {}) {
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/igw`,
    DB_CONNECT_TIMEOUT: "1s",
    ...env,
  });
  const database = await createDatabase(config);
  databases.push(database);
  return { config, database };
}

/** What each way in to the database throws: a raw query, a model query, an interactive transaction. */
async function failuresOf(database: Database) {
  const caught = async (work: () => PromiseLike<unknown>) => {
    try {
      await work();
    } catch (error) {
      return error;
    }
    throw new Error("expected the database call to fail");
  };
  return [
    await caught(() => database.ping()),
    await caught(() => database.prisma.organization.findMany({ take: 1 })),
    await caught(() => database.prisma.$transaction(async (tx) => tx.organization.findMany({ take: 1 }))),
  ];
}

afterEach(async () => {
  for (const database of databases.splice(0)) await database.close();
  for (const socket of sockets.splice(0)) socket.destroy();
});
afterAll(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("databaseFailure: what Prisma 7 + adapter-pg throw when PostgreSQL fails", () => {
  it("connection refused (the server is down): UNAVAILABLE", async () => {
    const { database } = await openDatabase(await closedPort());
    const errors = await failuresOf(database);
    expect(errors.map(databaseFailure)).toEqual(["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
    // P2010 (raw query) and P1001 (model query, transaction), each with the adapter's kind.
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(["P2010", "P1001", "P1001"]);
  });

  it.each([
    ["57P03", "the database system is starting up"],
    ["57P03", "the database system is shutting down"],
    ["57P01", "terminating connection due to administrator command"],
    ["53300", "sorry, too many clients already"],
  ])("the server refuses the connection with %s (%s): UNAVAILABLE", async (code, message) => {
    const port = await listen((socket) => socket.once("data", () => socket.end(fatal(code, message))));
    const { database } = await openDatabase(port);
    expect((await failuresOf(database)).map(databaseFailure)).toEqual(["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
  });

  it("a server that never answers: TIMEOUT after DB_CONNECT_TIMEOUT, ping included, not a hang", async () => {
    const port = await listen(() => {});
    const { database } = await openDatabase(port);
    const started = Date.now();
    const errors = await failuresOf(database);
    expect(errors.map(databaseFailure)).toEqual(["TIMEOUT", "TIMEOUT", "TIMEOUT"]);
    // Three calls of DB_CONNECT_TIMEOUT (1s) each; a generous bound, only against a hang.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("classifies the shapes seen against a real PostgreSQL (stress suite) and nothing else", () => {
    // Recorded from Prisma 7.10 + @prisma/adapter-pg 7.10 against PostgreSQL 15.
    const adapterCause = (cause: Record<string, unknown>) => ({
      code: "P2039",
      meta: { driverAdapterError: { name: "DriverAdapterError", cause } },
    });
    const cases: Array<[unknown, ReturnType<typeof databaseFailure>]> = [
      [new Error("timeout exceeded when trying to connect"), "TIMEOUT"], // pg-pool, pool exhausted
      [new Error("Connection terminated unexpectedly"), "UNAVAILABLE"], // crash, immediate stop
      [new Error("Client has encountered a connection error and is not queryable"), "UNAVAILABLE"],
      [adapterCause({ kind: "postgres", originalCode: "57014", code: "57014" }), "TIMEOUT"], // statement_timeout
      [adapterCause({ kind: "postgres", originalCode: "57P01", code: "57P01" }), "UNAVAILABLE"], // restart
      [adapterCause({ kind: "postgres", originalCode: "57P03", code: "57P03" }), "UNAVAILABLE"], // recovery
      [adapterCause({ kind: "TooManyConnections", originalCode: "53300" }), "UNAVAILABLE"],
      [{ code: "P1017", meta: { driverAdapterError: { cause: { kind: "ConnectionClosed" } } } }, "UNAVAILABLE"],
      [
        { code: "P2028", message: "Transaction API error: Unable to start a transaction in the given time." },
        "TIMEOUT",
      ],
      [{ code: "P2028", message: "Transaction API error: Transaction not found." }, null],
      // Through a GraphQLError (a resolver's error, as Yoga's mask function gets it).
      [new GraphQLError("x", { originalError: new Error("timeout exceeded when trying to connect") }), "TIMEOUT"],
      // Not failures of the database: conflicts, constraint errors, bugs.
      [adapterCause({ kind: "UniqueConstraintViolation", originalCode: "23505" }), null],
      [adapterCause({ kind: "TransactionWriteConflict", originalCode: "40001" }), null],
      [{ code: "P2002" }, null],
      [new Error("boom"), null],
      [new GraphQLError("x"), null],
      [null, null],
      ["ECONNREFUSED", null],
    ];
    for (const [error, expected] of cases) expect([error, databaseFailure(error)]).toEqual([error, expected]);
  });
});

describe("the GraphQL answer while the database is down", () => {
  async function post(port: number, query: string, token?: string) {
    const { config, database } = await openDatabase(port);
    const yoga = createGraphQLHandler({ db: database.prisma, config, logger: createLogger("silent") });
    try {
      const response = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query }),
      });
      const text = await response.text();
      return { status: response.status, text, body: JSON.parse(text) as { data?: any; errors?: any[] } };
    } finally {
      await yoga.dispose();
      await database.close();
    }
  }
  const preview = '{ linkInvitePreview(organizationId: "o", inviteId: "i") { status } }';

  it("a request whose viewer cannot be looked up: 503 SERVICE_UNAVAILABLE, no internals", async () => {
    const res = await post(await closedPort(), "{ viewer { id } }", "igw_some-token");
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      errors: [
        { message: "The database is unavailable; try again shortly", extensions: { code: "SERVICE_UNAVAILABLE" } },
      ],
    });
  });

  it("a resolver's query: SERVICE_UNAVAILABLE at its path, 503 when no field has data", async () => {
    const res = await post(await closedPort(), preview);
    expect(res.status).toBe(503);
    expect(res.body.data).toEqual({ linkInvitePreview: null });
    expect(res.body.errors).toEqual([
      expect.objectContaining({ path: ["linkInvitePreview"], extensions: { code: "SERVICE_UNAVAILABLE" } }),
    ]);
    expect(res.text).not.toMatch(/127\.0\.0\.1|reach|SELECT|Prisma|Unexpected error/i);
  });

  it("partial data keeps 200", async () => {
    const res = await post(await closedPort(), `{ __typename ${preview.slice(1)}`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ __typename: "Query", linkInvitePreview: null });
    expect(res.body.errors?.map((e) => e.extensions.code)).toEqual(["SERVICE_UNAVAILABLE"]);
  });

  it("a database that does not answer in time: TIMEOUT, 503", async () => {
    const res = await post(await listen(() => {}), preview);
    expect(res.status).toBe(503);
    expect(res.body.errors?.map((e) => [e.message, e.extensions.code])).toEqual([
      ["The database did not answer in time; try again shortly", "TIMEOUT"],
    ]);
  });
});

describe("a shield rule whose lookup fails", () => {
  // A rule whose lookup throws denies (FORBIDDEN, as graphql-shield's rules do); seen in the stress
  // suite under pool exhaustion. A failing database must say so; other errors still deny.
  const rule = ruleTree.Mutation.createLinkInvite as unknown as {
    resolve(parent: unknown, args: unknown, ctx: unknown, info: unknown, options: unknown): Promise<unknown>;
  };
  const resolveWith = (failure: Error) =>
    rule.resolve(
      {},
      { organizationId: "org" },
      { viewer: { id: "u" }, access: { roleIn: () => Promise.reject(failure) } },
      {},
      { debug: false },
    );

  it("answers SERVICE_UNAVAILABLE or TIMEOUT, not a denial", async () => {
    const timeout = await resolveWith(new Error("timeout exceeded when trying to connect"));
    expect(timeout).toBeInstanceOf(GraphQLError);
    expect((timeout as GraphQLError).extensions.code).toBe("TIMEOUT");
    const down = await resolveWith(new Error("Connection terminated unexpectedly"));
    expect((down as GraphQLError).extensions.code).toBe("SERVICE_UNAVAILABLE");
  });

  it("still denies on any other error (fail-closed)", async () => {
    const denial = await resolveWith(new Error("boom"));
    expect(denial).toBeInstanceOf(GraphQLError);
    expect((denial as GraphQLError).extensions.code).toBe("FORBIDDEN");
    expect((denial as GraphQLError).message).not.toContain("boom");
  });
});
