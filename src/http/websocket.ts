import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Span } from "@opentelemetry/api";
import {
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  GraphQLError as GraphQLErrorClass,
  type GraphQLFormattedError,
  getOperationAST,
  parse as parseDocument,
} from "graphql";
import { CloseCode, type ServerOptions } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { type GraphQLParams, isAsyncIterable } from "graphql-yoga";
import { type WebSocket, WebSocketServer } from "ws";
import type { Config } from "../config.js";
import type { Context } from "../graphql/builder.js";
import { maskWithInputErrors } from "../graphql/errors.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { endSocketOperationSpan, inSpan, startSocketOperationSpan } from "../observability/tracing.js";
import type { WebSocketOperationContext } from "./context.js";
import type { DocumentGate } from "./plugins/persisted-documents.js";
import { clientAddress } from "./plugins/rate-limit.js";
import type { Yoga } from "./yoga.js";

/**
 * GraphQL over WebSocket (graphql-ws, subprotocol `graphql-transport-ws`) at /graphql on the HTTP
 * server's port, as Yoga documents it: each operation runs through `yoga.getEnveloped`, so every
 * plugin of src/http/yoga.ts applies as it does over HTTP (shield rules, depth/alias/token limits, the
 * cost limit, masking, MAX_SUBSCRIPTIONS_PER_CALLER, the request rate limit: see its
 * onContextBuilding) and the context is the HTTP one, built once per operation from a Request that
 * carries the connection's `connectionParams.Authorization`.
 *
 * Connection: `connection_init` is authenticated (a credential that does not verify closes with 4403
 * Forbidden; none is anonymous, as over HTTP); past WS_MAX_CONNECTIONS_PER_CALLER the connection
 * closes with 4429, past the rate limit too. Operations: at most WS_MAX_SUBSCRIPTIONS_PER_CONNECTION
 * subscriptions at once on one connection (TOO_MANY_SUBSCRIPTIONS). A client that leaves more than
 * WS_MAX_UNSENT_BYTES of results unread is disconnected. Shutdown closes every connection with 1001
 * (Going Away): clients reconnect, to another replica.
 *
 * Browsers send `Origin` with the upgrade and no CORS preflight guards it: an upgrade whose Origin is
 * neither the server's own (its Host) nor one of CORS_ORIGINS is refused with 403, the policy HTTP
 * requests get from CORS. Clients that send no Origin (servers, CLIs) are not browsers and pass.
 *
 * Observability: each operation is counted in the metrics of HTTP requests (src/metrics.ts) with
 * `transport="ws"`, once, when its result is ready (a subscription: when its stream starts) or when
 * it is refused (its first error's code); with tracing on it has a span of its own
 * (src/tracing.ts startSocketOperationSpan). The log line is written when it ends ("graphql-ws
 * operation"), or when it is refused ("graphql-ws operation refused").
 */
export interface WebSocketEndpoint {
  /** Open connections. */
  connections(): number;
  /** Refuses new upgrades, closes every connection with 1001 and waits for them (at most `graceMs`). */
  close(graceMs: number): Promise<void>;
}

/** graphql-ws' close code for "too many": used here for connections past the limit and the rate limit. */
const TOO_MANY = CloseCode.TooManyInitialisationRequests;
const GOING_AWAY = 1001;
/**
 * Results a client may leave unread on one connection. graphql-ws reads every message and sends every
 * result, and ws buffers what the socket cannot take, without bound: one anonymous connection that
 * stopped reading and sent 1,000 queries of 25 aliased `_service { sdl }` grew the server by 470 MB.
 * Past this, the connection is ended (1006 for the client, which reconnects) and its buffer freed.
 */
export const WS_MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** The document of a result that only carries an error (APQ's answers): never executed. */
const APQ_ANSWER_DOCUMENT = parseDocument("{ __typename }");

interface Connection {
  authorization: string | null;
  /** Ids of the subscription operations open on it. */
  subscriptions: Set<string>;
}

/** What is known of one operation, from its `subscribe` message to its end. */
interface Operation {
  start: number;
  type: string;
  name: string | undefined;
  viewerId: string | null;
  requestId: string | undefined;
  /** Set once it runs: its log line is written when it ends. */
  log: Logger | undefined;
  span: Span | undefined;
  counted: boolean;
}

export function serveWebSocket(
  server: Server,
  yoga: Yoga,
  config: Config,
  logger: Logger,
  documents: DocumentGate,
  metrics: Metrics | undefined,
): WebSocketEndpoint {
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.bodyBytes });
  const connections = new WeakMap<WebSocket, Connection>();
  const perCaller = new Map<string, number>();
  // By the `subscribe` message's payload, which graphql-ws hands to each hook of the operation: nothing
  // to remove for an operation that ends on a path with no hook (a client that cancelled it early).
  const operations = new WeakMap<object, Operation>();
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/graphql") return refuseUpgrade(socket, 404, "Not Found");
    if (closing) return refuseUpgrade(socket, 503, "Service Unavailable");
    if (!originAllowed(req, config.corsOrigins)) return refuseUpgrade(socket, 403, "Forbidden");
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  };
  server.on("upgrade", onUpgrade);
  // Results still queued when a connection is ended (a slow reader's: onNext) fail to send: they are
  // dropped, as graphql-ws drops a result for a closed socket, not logged each as an internal error.
  wss.on("connection", (ws: WebSocket) => {
    const send = ws.send.bind(ws) as (data: unknown, cb?: (error?: Error) => void) => void;
    ws.send = ((data: unknown, cb?: (error?: Error) => void) =>
      send(data, (error) => cb?.(ws.readyState === ws.OPEN ? error : undefined))) as WebSocket["send"];
  });

  /** The operation's initial context: what Yoga's context factory and plugins read of an HTTP request. */
  const initialContext = (req: IncomingMessage, authorization: string | null): WebSocketOperationContext => {
    const headers = new Headers();
    if (authorization !== null) headers.set("authorization", authorization);
    const forwarded = req.headers["x-forwarded-for"];
    if (typeof forwarded === "string") headers.set("x-forwarded-for", forwarded);
    // POST: Yoga runs mutations only for a POST (a GET could be a link followed cross-site).
    return { request: new Request("http://localhost/graphql", { method: "POST", headers }), req, websocket: true };
  };

  /** Counts the operation (its result is ready, or it was refused) and ends its span: once. */
  const counted = (operation: Operation, errors: readonly GraphQLError[]) => {
    if (operation.counted) return;
    operation.counted = true;
    const codes = [
      ...new Set(errors.map((e) => (typeof e.extensions?.code === "string" ? e.extensions.code : "UNCODED"))),
    ];
    metrics?.observe({
      operationType: operation.type,
      // As over HTTP: names only for signed-in callers (an anonymous one counts as `anonymous`).
      operationName: operation.viewerId === null ? undefined : operation.name,
      outcome: codes[0] ?? "ok",
      seconds: (performance.now() - operation.start) / 1000,
      transport: "ws",
    });
    if (operation.span) endSocketOperationSpan(operation.span, operation, codes);
  };

  /** A GraphQL error as the client may see it: an unexpected one masked (and logged), codes kept. */
  const clientError = (error: unknown): GraphQLError => {
    const masked = maskWithInputErrors(error, "Unexpected error.");
    if (masked !== error) logger.error({ err: error }, "graphql-ws operation failed");
    return masked instanceof GraphQLErrorClass ? masked : new GraphQLErrorClass("Unexpected error.");
  };

  useServer<Record<string, unknown>, Record<string, never>>(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        const authorization = authorizationOf(ctx.connectionParams);
        if (authorization === undefined) return false;
        let viewerId: string | null;
        try {
          const { contextFactory } = yoga.getEnveloped(initialContext(ctx.extra.request, authorization));
          viewerId = ((await contextFactory()) as unknown as Context).viewer?.id ?? null;
        } catch (error) {
          const code = error instanceof GraphQLErrorClass ? error.extensions.code : undefined;
          if (code === "UNAUTHENTICATED") return false; // 4403 Forbidden
          if (code === "RATE_LIMITED") {
            socket.close(TOO_MANY, "Too many requests");
            return false;
          }
          clientError(error);
          socket.close(1011, "Could not authenticate: try again");
          return false;
        }
        // The client left while it was authenticated: nothing to count (its close event has passed).
        if (socket.readyState !== socket.OPEN) return false;
        // Anonymous: counted per address, the one HTTP's rate limit uses (X-Forwarded-For with TRUST_PROXY).
        const { request: upgrade } = initialContext(ctx.extra.request, null);
        const caller =
          viewerId ?? `address:${clientAddress(upgrade, { req: ctx.extra.request }, config.trustProxy) ?? ""}`;
        const open = perCaller.get(caller) ?? 0;
        if (open >= config.limits.wsConnectionsPerCaller) {
          socket.close(TOO_MANY, `Too many connections: at most ${config.limits.wsConnectionsPerCaller} per caller`);
          return false;
        }
        perCaller.set(caller, open + 1);
        socket.once("close", () => {
          const left = (perCaller.get(caller) ?? 1) - 1;
          if (left > 0) perCaller.set(caller, left);
          else perCaller.delete(caller);
        });
        connections.set(socket, { authorization, subscriptions: new Set() });
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        const record: Operation = {
          start: performance.now(),
          type: "none",
          name: payload.operationName?.slice(0, 100) ?? undefined,
          viewerId: null,
          requestId: undefined,
          log: undefined,
          span: config.tracing.enabled ? startSocketOperationSpan() : undefined,
          counted: false,
        };
        operations.set(payload, record);
        const connection = connections.get(ctx.extra.socket);
        if (!connection) return [new GraphQLErrorClass("Not connected", { extensions: { code: "UNAUTHENTICATED" } })];
        const initial = { ...initialContext(ctx.extra.request, connection.authorization), params: payload };
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped(initial);
        // First, as over HTTP: the rate limit and authentication.
        let contextValue: unknown;
        try {
          contextValue = await inSpan(record.span, contextFactory);
        } catch (error) {
          return [clientError(error)];
        }
        record.viewerId = (contextValue as Context).viewer?.id ?? null;
        record.requestId = (contextValue as Context).requestId;
        // Trusted documents and APQ, as over HTTP (Yoga's plugins read HTTP params, which graphql-ws has not).
        const text = await documents.documentOf(payload as GraphQLParams, initial.request);
        if (typeof text !== "string") {
          // An unknown or mismatched hash is a result with errors, as over HTTP (a body of errors), not
          // an `error` message: Apollo's PersistedQueryLink retries with the text only on a result.
          const code = codeOf(text);
          if (code === "PERSISTED_QUERY_NOT_FOUND" || code === "PERSISTED_QUERY_MISMATCH") {
            const answer = () => ({ errors: [text] });
            return {
              schema,
              // Not Yoga's parse, whose plugins would look for the client's operationName in it.
              document: APQ_ANSWER_DOCUMENT,
              rootValue: { execute: answer, subscribe: answer } as unknown as Enveloped,
            } satisfies ExecutionArgs;
          }
          return [text];
        }
        let document: ReturnType<typeof parse>;
        try {
          document = parse(text);
        } catch (error) {
          return [withCode(clientError(error), "GRAPHQL_PARSE_FAILED")];
        }
        const operation = getOperationAST(document, payload.operationName);
        record.type = operation?.operation ?? "none";
        record.name = operation?.name?.value ?? record.name;
        let errors: readonly GraphQLError[];
        try {
          // graphql-armor's limits throw their refusal (Yoga answers it as a result over HTTP).
          errors = validate(schema, document);
        } catch (error) {
          return [withCode(clientError(error), "GRAPHQL_VALIDATION_FAILED")];
        }
        if (errors.length > 0) return errors.map((error: GraphQLError) => withCode(error, "GRAPHQL_VALIDATION_FAILED"));
        if (operation?.operation === "subscription") {
          const max = config.limits.wsSubscriptionsPerConnection;
          if (connection.subscriptions.size >= max) {
            return [
              new GraphQLErrorClass(
                `Too many subscriptions: at most ${max} open at once on one connection. Close one to open another.`,
                { extensions: { code: "TOO_MANY_SUBSCRIPTIONS" } },
              ),
            ];
          }
          connection.subscriptions.add(id);
        }
        record.log = (contextValue as Context).log;
        const enveloped = {
          execute: (args) => inSpan(record.span, () => execute(args)),
          subscribe: (args) => inSpan(record.span, () => subscribe(args)),
        } as Enveloped;
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
          rootValue: enveloped,
        } satisfies ExecutionArgs;
      },
      onOperation: (_ctx, _id, payload, _args, result) => {
        const operation = operations.get(payload);
        // Awaited by graphql-ws, whatever its type says.
        const value = result as Awaited<OperationResult>;
        if (operation) counted(operation, isAsyncIterable(value) ? [] : (value.errors ?? []));
      },
      onNext: (ctx, _id, _payload, _args, result) => {
        const socket = ctx.extra.socket;
        if (socket.readyState === socket.OPEN && socket.bufferedAmount > WS_MAX_UNSENT_BYTES) {
          // A close frame would wait behind what it has not read: the socket is ended at once.
          logger.warn(
            { transport: "websocket", unsentBytes: socket.bufferedAmount },
            "graphql-ws client does not read",
          );
          socket.terminate();
        }
        return withoutHttpExtensions(result);
      },
      onError: (_ctx, _id, payload, errors) => {
        const operation = operations.get(payload);
        // A refusal; or the error that ends a stream already counted when it started.
        if (operation) counted(operation, errors);
        logger.info(
          { transport: "websocket", operationName: payload.operationName ?? undefined, errorCodes: errors.map(codeOf) },
          "graphql-ws operation refused",
        );
        return errors.map((error) => formatted(error));
      },
      onComplete: (ctx, id, payload) => {
        connections.get(ctx.extra.socket)?.subscriptions.delete(id);
        const operation = operations.get(payload);
        if (!operation?.log) return;
        operation.log.info(
          {
            transport: "websocket",
            operationType: operation.type,
            operationName: operation.name,
            durationMs: Math.round((performance.now() - operation.start) * 100) / 100,
          },
          "graphql-ws operation",
        );
      },
    },
    wss,
  );
  // A frame that breaks the protocol (a message past MAX_BODY_BYTES: 1009; a bad frame: 1002) ends its
  // connection in ws, which then emits the error: graphql-ws printed each to stderr with its stack as
  // an "internal error", a dozen lines outside the JSON log for a few bytes from anyone. A client's
  // mistake, not the server's: one debug line. (Registered after graphql-ws' own listener, to replace it.)
  wss.on("connection", (ws: WebSocket) => {
    ws.removeAllListeners("error");
    ws.on("error", (error: Error) => logger.debug({ transport: "websocket", err: error }, "graphql-ws protocol error"));
  });

  return {
    connections: () => wss.clients.size,
    async close(graceMs) {
      closing = true;
      const sockets = [...wss.clients];
      const closed = sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === socket.CLOSED) return resolve();
            socket.once("close", () => resolve());
          }),
      );
      for (const socket of sockets) socket.close(GOING_AWAY, "The server is shutting down: reconnect");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closed),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      for (const socket of wss.clients) socket.terminate();
      server.off("upgrade", onUpgrade);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Yoga's enveloped execute and subscribe of one operation, handed to graphql-ws as its rootValue. */
interface Enveloped {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

type OperationResult = ReturnType<NonNullable<ServerOptions["execute"]>>;

/**
 * `connectionParams.Authorization` (any case of the key): null when absent (anonymous), undefined when
 * it is not a string (refused).
 */
function authorizationOf(params: Readonly<Record<string, unknown>> | undefined): string | null | undefined {
  if (!params) return null;
  const key = Object.keys(params).find((k) => k.toLowerCase() === "authorization");
  if (key === undefined) return null;
  const value = params[key];
  return typeof value === "string" ? value : undefined;
}

function originAllowed(req: IncomingMessage, corsOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (corsOrigins.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function codeOf(error: GraphQLError): unknown {
  return error.extensions?.code;
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  (error.extensions as Record<string, unknown>).code ??= code;
  return error;
}

/** An error as graphql-ws sends it, without Yoga's `extensions.http` (a status for HTTP responses). */
function formatted(error: GraphQLError): GraphQLFormattedError {
  const json = error.toJSON();
  if (!json.extensions || !("http" in json.extensions)) return json;
  const { http: _http, ...extensions } = json.extensions;
  return { ...json, ...(Object.keys(extensions).length ? { extensions } : { extensions: undefined }) };
}

function withoutHttpExtensions(result: ExecutionResult) {
  const { errors, ...rest } = result;
  return errors ? { ...rest, errors: errors.map((error) => formatted(error)) } : rest;
}
