import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { listenForRevocations } from "./auth/revocations.js";
import { createAuthCache } from "./auth/tokens.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createDatabase, type Database } from "./db/client.js";
import { startEvents } from "./events/service.js";
import { createAPQStore, createDocumentGate, createTrustedDocuments } from "./http/plugins/persisted-documents.js";
import { isRestPath } from "./http/rest/handler.js";
import { serveWebSocket } from "./http/websocket.js";
import { createLogger, type Logger, requestIdFrom } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { startTracing } from "./observability/tracing.js";
import { serveOperatorSocket } from "./operator/socket.js";

export interface RunningServer {
  url: string;
  server: Server;
  database: Database;
  /** The Prometheus registry behind /metrics; undefined with METRICS_ENABLED=false. */
  metrics: Metrics | undefined;
  /** Reads PERSISTED_DOCUMENTS again (SIGHUP); false when it failed (the old set stays) or none is set. */
  reloadPersistedDocuments(): boolean;
  /** Stops accepting connections, lets in-flight requests finish, closes the database. */
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/** One step of a shutdown: stops one thing that was started. */
type Stop = () => unknown;

/**
 * Runs every step in order, each one even when a step before it failed (a Redis client that will not
 * quit must not leave the database open, nor spans unsent), then throws the first failure.
 */
export async function stopAll(steps: readonly Stop[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

export async function startServer(
  config: Config,
  logger: Logger = createLogger(config.logLevel),
): Promise<RunningServer> {
  // What has been started, in order. A start that fails part-way (the port is taken, a migration
  // fails) stops it all before it rejects: the database pool, the token listener's connection, the
  // Redis connections of the rate limit and the event bus, the operator socket would otherwise
  // outlive it and keep the process from exiting. close() stops the same list after the HTTP server.
  const started: Stop[] = [];
  try {
    return await start(config, logger, started);
  } catch (error) {
    await stopAll([...started].reverse()).catch((stopError: unknown) =>
      logger.error({ err: stopError }, "stopping what a failed start had started failed"),
    );
    throw error;
  }
}

async function start(config: Config, logger: Logger, started: Stop[]): Promise<RunningServer> {
  // A manifest that does not load stops the start before anything else is opened.
  const { paths } = config.persistedDocuments;
  const trustedDocuments = paths.length ? createTrustedDocuments(paths, logger) : undefined;
  // yoga.js builds the GraphQL schema as it is evaluated (about a third of a start's CPU): imported
  // here, it is built while the embedded database's WebAssembly compiles in the background.
  const handlerModule = import("./http/yoga.js");
  handlerModule.catch(() => {}); // a failure is thrown where it is awaited
  const database = await createDatabase(config, {
    logQueries: config.benchCountSql,
    log: { info: (message) => logger.info(message), warn: (message) => logger.warn(message) },
  });
  started.push(() => database.close());
  if (config.autoMigrate) {
    const applied = await database.migrate((msg) => logger.debug(msg));
    logger.info({ applied }, applied.length ? "applied migrations" : "database schema is up to date");
  }
  // Accepted API tokens for AUTH_CACHE_TTL. With PostgreSQL, revocations by other processes
  // (the CLI, other replicas) arrive by NOTIFY; with PGlite every revocation is made in this process.
  const authCache =
    config.authCacheTtlMs > 0 ? createAuthCache({ ttlMs: config.authCacheTtlMs, maxEntries: 10_000 }) : undefined;
  started.push(() => authCache?.close());
  const revocations =
    authCache && config.database.kind === "postgres"
      ? listenForRevocations(config.database.url, authCache, logger, config.dbConnectTimeoutMs)
      : undefined;
  started.push(() => revocations?.close());
  // The outbox relay (organizationEvents, through Redis with REDIS_URL) and, with WEBHOOK_URL, webhooks.
  const events = startEvents({ db: database.prisma, config, logger });
  // The relay and the webhook dispatcher finish their round before the database closes.
  started.push(() => events.close());
  const metrics = config.metrics.enabled
    ? createMetrics({ maxOperationNames: config.metrics.maxOperationNames, pool: database.poolStats })
    : undefined;
  // APQ's store (not in enforce), one for HTTP and graphql-ws: in Redis with REDIS_URL, shared by the replicas.
  const apqStore = createAPQStore({
    config: config.persistedDocuments,
    redisUrl: config.rateLimit.redisUrl,
    keyPrefix: config.rateLimit.keyPrefix,
    logger,
  });
  started.push(() => apqStore?.close?.());
  const { createGraphQLHandler } = await handlerModule;
  const yoga = createGraphQLHandler({
    db: database.prisma,
    config,
    logger,
    authCache,
    events: events.bus,
    metrics,
    trustedDocuments,
    apqStore,
  });
  // Its plugins' resources: the rate limit's Redis connection.
  started.push(() => yoga.dispose());
  // With the embedded database, operator commands run in this process (see operator-socket.ts).
  const closeOperatorSocket =
    config.database.kind === "pglite" && !config.database.dataDir.startsWith("memory://")
      ? await serveOperatorSocket(config.database.dataDir, database.prisma, logger)
      : async () => {};
  started.push(closeOperatorSocket);
  let shuttingDown = false;
  // Benchmarks only (bench/run.ts): how many SQL statements the Prisma client has sent.
  let sqlCount = 0;
  started.push(config.benchCountSql ? database.onQuery(() => sqlCount++) : () => {});
  // Responses not yet sent: on shutdown they close their connection when done (no keep-alive).
  const inFlight = new Set<ServerResponse>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (shuttingDown) res.setHeader("connection", "close");
    else {
      inFlight.add(res);
      res.once("close", () => {
        inFlight.delete(res);
        // A response that ends during shutdown (an SSE subscription ended by it, one whose headers
        // went out before) leaves a kept-alive socket: close it once idle rather than at the grace's end.
        if (shuttingDown) setImmediate(() => server.closeIdleConnections());
      });
    }
    // Every response carries the request's id (Yoga's responses too: src/http/plugins/observability.ts).
    const requestId = requestIdFrom(req.headers["x-request-id"]);
    res.setHeader("x-request-id", requestId);
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/health") return sendJson(res, 200, { status: "ok" });
    if (req.method === "GET" && path === "/ready") {
      if (shuttingDown) return sendJson(res, 503, { status: "shutting down" });
      database.ping().then(
        () => sendJson(res, 200, { status: "ready", database: database.kind }),
        (error: unknown) => {
          logger.warn({ err: error }, "readiness check failed");
          sendJson(res, 503, { status: "unavailable", database: database.kind });
        },
      );
      return;
    }
    if (metrics && req.method === "GET" && path === "/metrics") return serveMetrics(req, res, metrics, config, logger);
    if (config.benchCountSql && req.method === "GET" && path === "/debug/sql-count") {
      return sendJson(res, 200, { count: sqlCount });
    }
    // Yoga's server adapter makes the request's URL of the Host header and the request target; one
    // that makes no URL (`Host: a b`, `Host: x:port`) was a 500 with the stack trace as its body.
    if (!URL.canParse(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`)) {
      const message = "The Host header and the request target do not form a valid URL";
      return sendJson(
        res,
        400,
        isRestPath(path ?? "/")
          ? { error: { code: 400, message, reason: "BAD_REQUEST" } }
          : { errors: [{ message, extensions: { code: "BAD_REQUEST" } }] },
      );
    }
    void yoga(req, res, { requestId });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // GraphQL over WebSocket (graphql-ws) at /graphql, through the same Yoga instance.
  const websocket = serveWebSocket(
    server,
    yoga,
    config,
    logger,
    createDocumentGate({
      config: config.persistedDocuments,
      trusted: trustedDocuments ?? null,
      development: config.nodeEnv === "development",
      apqStore,
    }),
    metrics,
  );

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      shuttingDown = true;
      // Stop accepting first; in-flight requests get SHUTDOWN_GRACE to finish.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
      await stopAll([
        // WebSocket connections close with 1001 (Going Away): their clients reconnect, elsewhere.
        () => websocket.close(config.shutdownGraceMs),
        // Open subscriptions end (their SSE responses complete) instead of holding the grace period.
        () => events.bus.endSubscriptions(),
        () => closed,
        () => clearTimeout(timer),
        // Then what the start started, last first: operator socket, ..., the database.
        ...[...started].reverse(),
      ]);
    })();
    return closing;
  };
  const reloadPersistedDocuments = () => {
    if (!trustedDocuments) {
      logger.info("SIGHUP: no PERSISTED_DOCUMENTS to reload");
      return false;
    }
    return trustedDocuments.reload();
  };
  return { url, server, database, metrics, reloadPersistedDocuments, close };
}

/** GET /metrics: Prometheus' text format; with METRICS_TOKEN, only for `Authorization: Bearer <it>`. */
function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: Metrics,
  config: Config,
  logger: Logger,
): void {
  if (config.metrics.token !== null && !sameSecret(req.headers.authorization, `Bearer ${config.metrics.token}`)) {
    res.setHeader("www-authenticate", 'Bearer realm="metrics"');
    sendJson(res, 401, { error: { code: "UNAUTHENTICATED", message: "GET /metrics needs the METRICS_TOKEN" } });
    return;
  }
  metrics.render().then(
    (text) => {
      res.writeHead(200, { "content-type": metrics.contentType, "cache-control": "no-store" });
      res.end(text);
    },
    (error: unknown) => {
      logger.error({ err: error }, "rendering /metrics failed");
      sendJson(res, 500, { error: { code: "INTERNAL_SERVER_ERROR", message: "Unexpected error." } });
    },
  );
}

function sameSecret(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? "");
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, undefined, { traceContext: config.tracing.enabled });
  // Before the server takes requests, so that the first one is traced too.
  const tracing = await startTracing(config.tracing);
  if (tracing) logger.info("OpenTelemetry tracing is on");
  let running: RunningServer;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    // Spans of the failed start still go out; the start's own failure is the one to report.
    await tracing?.shutdown().catch(() => {});
    throw error;
  }
  logger.info({ url: `${running.url}/graphql`, database: running.database.kind }, "invites-gateway is listening");
  let stopping = false;
  const stop = (signal: string) => {
    // A second signal (an impatient Ctrl-C, a supervisor repeating SIGTERM) does not cut the shutdown short.
    if (stopping) return logger.info({ signal }, "already shutting down");
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    // The spans still buffered are sent even when closing the server failed (they may show why).
    stopAll([() => running.close(), () => tracing?.shutdown()]).then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Trusted documents are read again with no restart; a manifest that fails keeps the old set.
  process.on("SIGHUP", () => running.reloadPersistedDocuments());
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    const hint = (error as NodeJS.ErrnoException).code === "EADDRINUSE" ? " (set PORT to a free port)" : "";
    process.stderr.write(
      `invites-gateway failed to start: ${error instanceof Error ? error.message : String(error)}${hint}\n`,
    );
    process.exit(1);
  });
}
