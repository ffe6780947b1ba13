import type { IncomingMessage } from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { PothosValidationError } from "@pothos/core";
import {
  type DocumentNode,
  GraphQLError,
  Kind,
  Lexer,
  NoSchemaIntrospectionCustomRule,
  Source,
  TokenKind,
} from "graphql";
import { createYoga, type GraphQLParams, maskError, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { createJwtVerifier } from "../auth/jwt.js";
import { type AuthCache, type Authenticate, bearerToken, createAuthenticator } from "../auth/tokens.js";
import type { Config } from "../config.js";
import { createAccess } from "../domain/access.js";
import { ForbiddenError } from "../domain/errors.js";
import { databaseFailure, isUnstorableText } from "../domain/tx.js";
import { createEventBus, type EventBus } from "../events/bus.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Context } from "../graphql/builder.js";
import { badUserInput, DATABASE_FAILURE_CODES, databaseFailureError } from "../graphql/errors.js";
import { applyPermissions } from "../graphql/permissions.js";
import { schema } from "../graphql/schema/index.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { useTracing } from "../observability/tracing.js";
import { isValidContentLength, readBodyWithin } from "./body.js";
import { useCostLimit } from "./plugins/cost-limit.js";
import { createTextKeyedCache } from "./plugins/document-cache.js";
import { createObservability } from "./plugins/observability.js";
import { createTrustedDocuments, type TrustedDocuments, usePersistedDocuments } from "./plugins/persisted-documents.js";
import {
  addressKey,
  callerKey,
  createRequestRateLimiter,
  type RateDecision,
  type RequestRateLimiter,
} from "./plugins/rate-limit.js";
import { useSubscriptionLimit } from "./plugins/subscription-limit.js";
import { isRestPath, isRestTwinRequest, restErrorResponse, restRequestOf, useRestTwin } from "./rest/handler.js";

/**
 * Yoga's masking (crashes become "Unexpected error."), plus a code for Pothos' own argument checks
 * (negative `first`, a malformed cursor) and for variables that do not fit their type (graphql-js
 * gives those no code): both are the client's mistake, BAD_USER_INPUT. A failing database is not a
 * crash: SERVICE_UNAVAILABLE or TIMEOUT (src/domain/tx.ts databaseFailure).
 */
export function maskWithInputErrors(error: unknown, message: string): Error {
  const failure = databaseFailure(error);
  if (failure) return databaseFailureError(failure, error instanceof GraphQLError ? error : undefined);
  if (isUnstorableText(error)) {
    return badUserInput(
      "An argument holds text that cannot be stored or looked up (NUL or malformed Unicode)",
      error instanceof GraphQLError ? error : undefined,
    );
  }
  if (error instanceof GraphQLError) {
    if (error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION && !error.extensions.code) {
      markBadInput(error);
      return error;
    }
    if (error.originalError instanceof ForbiddenError) {
      // A denial found inside a mutation (src/domain/errors.ts): answered as the rules' denials are.
      (error.extensions as Record<string, unknown>).code = "FORBIDDEN";
      return error;
    }
    const cause = error instanceof PothosValidationError ? error : error.originalError;
    if (cause instanceof PothosValidationError && !error.extensions.code) {
      // The same error object with a code: Yoga logs every error that masking replaces, and a
      // client's bad argument is not worth an error-level log line.
      (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
      return error;
    }
  }
  // Never the development variant (which adds the original message and stack), whatever NODE_ENV says.
  return maskError(error, message, false);
}

/**
 * A response that is nothing but database failures (no data: the context could not be built, or
 * every root field is null) is a 503, so that load balancers and clients see the outage; partial
 * data keeps its 200.
 */
function useDatabaseFailureStatus(): Plugin {
  return {
    onResultProcess: ({ result, setResult }) => {
      if (Array.isArray(result) || !("errors" in result)) return;
      const errors = result.errors ?? [];
      if (errors.length === 0 || !errors.every((e) => DATABASE_FAILURE_CODES.has(e.extensions?.code))) return;
      if (Object.values(result.data ?? {}).some((value) => value != null)) return;
      setResult({ ...result, extensions: { ...result.extensions, http: { status: 503 } } });
    },
  };
}

/**
 * graphql-armor: depth, aliases, tokens and directives are checked before execution; a refused
 * request is a top-level error with extensions.code BAD_USER_INPUT. Introspection (which GraphiQL
 * and gateways need) is not counted. The cost (MAX_COST) is src/cost-limit.ts's: it needs the
 * request's variables, which validation never sees.
 */
function useRequestLimits(config: Config): Plugin {
  const withCode = [(_ctx: unknown, error: GraphQLError) => markBadInput(error)];
  return EnvelopArmorPlugin({
    maxDepth: { n: config.limits.depth, ignoreIntrospection: true, flattenFragments: true, onReject: withCode },
    maxAliases: { n: config.limits.aliases, onReject: withCode },
    maxTokens: { n: config.limits.tokens, onReject: withCode },
    maxDirectives: { n: config.limits.directives, onReject: withCode },
    // src/cost-limit.ts counts the cost, with the request's variables.
    costLimit: { enabled: false },
    // Suggestions ("Did you mean ...?") reveal the schema: only when introspection is on.
    blockFieldSuggestion: { enabled: !config.introspection },
  }) as Plugin;
}

/**
 * MAX_BODY_BYTES, as Yoga's own `maxRequestBodySize` checks it, without its cost on every request:
 * Yoga pipes every body through a TransformStream to count its bytes (a stream pipeline, an abort
 * signal and a DOMException per request: ~5 % of the CPU of a small query). A valid Content-Length
 * is checked as a number: Node's HTTP parser hands Yoga exactly that many bytes, never more, so there
 * is nothing left to count. Only a body without one (chunked) is read and counted; past the limit
 * the reading stops, and the 413 closes the connection (`Connection: close`).
 *
 * A body the client stops sending (it closes the connection half-way) is a 400 BAD_REQUEST, as Node
 * answers a body cut short itself: the read fails with Node's `ECONNRESET` "aborted", which masking
 * took for a lost database connection (a 503 logged at error level, counted as an outage).
 */
function useBodySizeLimit(limit: number): Plugin {
  const tooLarge = (headers?: Record<string, string>) =>
    new GraphQLError("Request body too large", {
      extensions: { code: "REQUEST_ENTITY_TOO_LARGE", http: { status: 413, ...(headers ? { headers } : {}) } },
    });
  const cutShort = () =>
    new GraphQLError("The request body was cut short: the client closed the connection", {
      extensions: { code: "BAD_REQUEST", http: { status: 400 } },
    });
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const contentLength = request.headers.get("content-length");
      if (contentLength != null) {
        if (!isValidContentLength(contentLength)) {
          throw new GraphQLError("Content-Length header is invalid.", {
            extensions: { code: "BAD_REQUEST", http: { status: 400 } },
          });
        }
        if (Number(contentLength) > limit) throw tooLarge();
      }
      if (!requestParser) return;
      const chunked = contentLength == null ? request.body : null;
      setRequestParser(async (req) => {
        try {
          if (!chunked) return await requestParser(req);
          // Reading stops half-way, which ends the connection: the 413 says so, or a client would send
          // its next request on it and get a reset connection instead of an answer.
          const read = await readBodyWithin(chunked, limit, () => tooLarge({ connection: "close" }));
          return await requestParser(
            new fetchAPI.Request(req.url, { method: req.method, headers: req.headers, signal: req.signal, body: read }),
          );
        } catch (error) {
          if (req.signal.aborted && !(error instanceof GraphQLError)) throw cutShort();
          throw error;
        }
      });
    },
  };
}

/**
 * GET's query string and a form body (application/x-www-form-urlencoded) carry `variables` and
 * `extensions` as JSON text, which Yoga's own parser hands to JSON.parse unguarded: `?variables={`
 * was a 500 ("Unexpected error.", logged as a crash). Parsed here instead, field for field as Yoga
 * does, and JSON that does not parse is a 400 BAD_REQUEST, as it is in a JSON body.
 */
function useSearchParamsParser(): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method === "GET") {
        setRequestParser((req) => {
          const at = req.url.indexOf("?");
          return paramsOf(new URLSearchParams(at < 0 ? "" : req.url.slice(at + 1)));
        });
      } else if (request.method === "POST" && isContentType(request, "application/x-www-form-urlencoded")) {
        setRequestParser(async (req) => paramsOf(new URLSearchParams(await req.text())));
      }
    },
  };
}

/** Yoga's test of a request's content type: the first of a list, with or without parameters. */
function isContentType(request: Request, type: string): boolean {
  const given = request.headers.get("content-type")?.split(",")[0];
  return given === type || !!given?.startsWith(`${type};`);
}

function paramsOf(search: URLSearchParams): GraphQLParams {
  return {
    operationName: search.get("operationName") || undefined,
    query: search.get("query") || undefined,
    variables: jsonParam(search, "variables"),
    extensions: jsonParam(search, "extensions"),
    ...(search.get("documentId") ? { documentId: search.get("documentId") } : {}),
  } as GraphQLParams;
}

function jsonParam(search: URLSearchParams, name: string): Record<string, unknown> | undefined {
  const text = search.get(name);
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new GraphQLError(`The "${name}" parameter is not valid JSON.`, {
      extensions: { code: "BAD_REQUEST", http: { status: 400 } },
    });
  }
}

/**
 * The text of the documents (and, apart, of the documents that failed to parse) kept parsed: a
 * hundred or more of an application's operations. A parsed document holds up to ~250 bytes of heap
 * per character (its tokens, its nodes, its validation errors): ~60 MB at most in all.
 */
const CACHED_DOCUMENT_CHARS = 250_000;

/** Brackets a document may open beyond MAX_DEPTH's selection sets: arguments, lists, input objects. */
const NESTING_ALLOWANCE = 64;

/**
 * graphql-js parses recursively: a document of 12,000 unclosed `{ a ` overflowed the stack inside the
 * parser (before graphql-armor's token or depth limits could answer) and came back as a 500. Before
 * anything parses, the document is read once with graphql-js' own lexer, which is iterative, counting
 * how deep its brackets nest; past `limit` the request is a 400 with BAD_USER_INPUT. The lexer stops
 * at the first token past the limit, and at MAX_TOKENS' worth of tokens (armor's parser counts them
 * again and answers for those).
 */
function useNestingLimit(limit: number, maxTokens: number): Plugin {
  return {
    onParse({ params }) {
      const body = typeof params.source === "string" ? params.source : params.source.body;
      if (nestingDepthExceeds(body, limit, maxTokens)) {
        throw new GraphQLError(`The document nests deeper than ${limit} brackets`, {
          extensions: { code: "BAD_USER_INPUT", http: { status: 400 } },
        });
      }
    },
  };
}

const OPENING = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

function nestingDepthExceeds(body: string, limit: number, maxTokens: number): boolean {
  const lexer = new Lexer(new Source(body));
  let depth = 0;
  try {
    let count = 0;
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF && count < maxTokens; token = lexer.advance()) {
      count += 1;
      if (OPENING.has(token.kind)) {
        depth += 1;
        if (depth > limit) return true;
      } else if (CLOSING.has(token.kind)) {
        depth -= 1;
      }
    }
  } catch {
    // A syntax error: the parser reports it, with its location.
  }
  return false;
}

function markBadInput(error: GraphQLError): void {
  (error.extensions as Record<string, unknown>).code ??= "BAD_USER_INPUT";
}

/** INTROSPECTION=false: `__schema` and `__type` are refused (`_service { sdl }` still answers). */
function useNoIntrospection(): Plugin {
  return {
    onValidate: ({ addValidationRule }) => {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/** Headers for every response of /graphql (GraphiQL's page needs its inline scripts: no CSP there). */
function useSecurityHeaders(): Plugin {
  return {
    onResponse: ({ response }) => {
      response.headers.set("x-content-type-options", "nosniff");
      response.headers.set("referrer-policy", "no-referrer");
      response.headers.set("x-frame-options", "DENY");
      response.headers.set("cross-origin-resource-policy", "same-origin");
      if (!response.headers.get("content-type")?.includes("text/html")) {
        response.headers.set("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
      }
    },
  };
}

/**
 * CSRF prevention (Yoga's plugin): a request a browser could send cross-site without a CORS
 * preflight (a GET, or a POST as a form or text/plain) must carry a header that forces one. Clients
 * that POST JSON are unaffected; GET requests add `x-graphql-yoga-csrf` (or Apollo's
 * `apollo-require-preflight`), or carry an Authorization header, which no form can set. The refusal
 * is HTTP 403 with extensions.code BAD_REQUEST. (`authorization` is on the list only because Bearer
 * tokens are the sole credential: a browser attaches cookies or Basic credentials by itself, never a
 * Bearer token. Should cookie or Basic sign-in ever be added, it must come off the list.)
 */
export const CSRF_HEADERS = [
  "x-graphql-yoga-csrf",
  "apollo-require-preflight",
  "x-apollo-operation-name",
  "authorization",
];

function useCsrfPrevention(): Plugin {
  const plugin = useCSRFPrevention({ requestHeaders: CSRF_HEADERS }) as Plugin;
  const check = plugin.onRequestParse;
  return {
    onRequestParse(payload) {
      try {
        return check?.(payload);
      } catch (error) {
        if (error instanceof GraphQLError) {
          throw new GraphQLError(
            "This request could be a cross-site request forgery: send it as a POST with content-type application/json, or add the header `x-graphql-yoga-csrf: 1`.",
            { extensions: { code: "BAD_REQUEST", http: { status: 403 } } },
          );
        }
        throw error;
      }
    },
  };
}

/** The address a request came from: the socket's, or behind a trusted proxy the one it appended. */
function clientAddress(request: Request, serverContext: unknown, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  return (serverContext as { req?: { socket?: { remoteAddress?: string } } } | undefined)?.req?.socket?.remoteAddress;
}

/** Whether authenticating the request failed because its credential did not verify (not a crash). */
function failsVerification(viewer: Promise<unknown>): Promise<boolean> {
  return viewer.then(
    () => false,
    (error: unknown) => error instanceof GraphQLError && error.extensions.code === "UNAUTHENTICATED",
  );
}

/**
 * RATE_LIMIT_PER_MINUTE per caller, checked before anything else of the request is done. A caller is
 * a valid credential, or the client address. A request with a bearer token counts against that
 * token (callerKey: a token sent again and again is refused past the limit without a lookup) and is
 * then authenticated (once: the context factory reuses the answer); a token that fails verification
 * counts against the address as well, so fresh random tokens share the address's budget, and past it
 * are refused. A valid token never counts against, nor waits on, its address's budget: behind a
 * shared proxy, bad tokens cannot lock out the callers whose tokens are valid.
 *
 * Past the limit: HTTP 429 with Retry-After and a GraphQL error whose extensions.code is
 * RATE_LIMITED; under /v1, the same status and headers with the REST twin's error body. Every request
 * Yoga gets counts once: a /v1 request as itself (whether the twin answers it alone, a 404 or the
 * OpenAPI document, or runs GraphQL), and the GraphQL request the twin then makes not again.
 */
function useRequestRateLimit(limiter: RequestRateLimiter, trustProxy: boolean, authenticate: Authenticate): Plugin {
  const decide = async (request: Request, serverContext: unknown): Promise<RateDecision> => {
    const address = clientAddress(request, serverContext, trustProxy);
    let decision = await limiter.check(callerKey(request, address));
    const token = bearerToken(request.headers.get("authorization"));
    if (decision.allowed && token && (await failsVerification(authenticate(request)))) {
      decision = await limiter.check(addressKey(address));
    }
    return decision;
  };
  const refusal = (limit: number, retryAfterMs: number) => {
    const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return {
      retryAfter,
      message: `Too many requests: at most ${limit} a minute for one caller. Retry after ${retryAfter} s.`,
    };
  };
  return {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (isRestTwinRequest(request)) return;
      const decision = await decide(request, serverContext);
      if (decision.allowed) return;
      const { retryAfter, message } = refusal(decision.limit, decision.retryAfterMs);
      const headers = {
        "retry-after": String(retryAfter),
        "ratelimit-limit": String(decision.limit),
        "ratelimit-remaining": "0",
        "ratelimit-reset": String(retryAfter),
      };
      if (isRestPath(url.pathname)) {
        endResponse(restErrorResponse(429, message, "RATE_LIMITED", headers));
        return;
      }
      const body = { errors: [{ message, extensions: { code: "RATE_LIMITED" } }] };
      endResponse(
        new fetchAPI.Response(JSON.stringify(body), {
          status: 429,
          headers: { "content-type": "application/json; charset=utf-8", ...headers },
        }),
      );
    },
    // An operation over WebSocket (src/websocket.ts) has no HTTP request of its own, so onRequest never
    // sees it: each one is counted here, as its context is built, against the same budget.
    async onContextBuilding({ context }) {
      if (!isWebSocketOperation(context)) return;
      const decision = await decide(context.request, context);
      if (decision.allowed) return;
      const { retryAfter, message } = refusal(decision.limit, decision.retryAfterMs);
      throw new GraphQLError(message, { extensions: { code: "RATE_LIMITED", retryAfter } });
    },
    onDispose: () => limiter.close(),
  };
}

/**
 * The initial context of one operation over WebSocket (src/websocket.ts): a Request made of the
 * connection's `connectionParams` (its Authorization) so that authentication, the rate limit and the
 * context factory read it as they read an HTTP request, and the upgrade request (`req`: the address).
 */
export interface WebSocketOperationContext {
  request: Request;
  req: IncomingMessage;
  websocket: true;
}

function isWebSocketOperation(context: unknown): context is WebSocketOperationContext {
  return (context as Partial<WebSocketOperationContext>).websocket === true;
}

/** The rules of src/permissions.ts on the schema (applyPermissions), once, when Yoga gets its schema. */
function useShield(): Plugin {
  return {
    onSchemaChange: ({ schema, replaceSchema }) => {
      const shielded = applyPermissions(schema);
      if (shielded !== schema) replaceSchema(shielded);
    },
  };
}

export interface YogaDeps {
  db: PrismaClient;
  config: Config;
  logger: Logger;
  /** Accepted API tokens for a few seconds (src/server.ts); none: every request looks its token up. */
  authCache?: AuthCache | undefined;
  /**
   * Where organizationEvents subscribe (src/events/service.ts startEvents, which also publishes).
   * None: a bus of this handler's own that nothing publishes on.
   */
  events?: EventBus | undefined;
  /** Prometheus metrics (src/server.ts serves them at /metrics); none: requests are only logged. */
  metrics?: Metrics | undefined;
  /** PERSISTED_DOCUMENTS, loaded (src/server.ts reloads them on SIGHUP); none: read from config here. */
  trustedDocuments?: TrustedDocuments | undefined;
}

export type Yoga = YogaServerInstance<Record<string, unknown>, Context>;

/** The GraphQL handler. It never listens: src/server.ts does, tests call `yoga.fetch`. */
export function createGraphQLHandler({
  db,
  config,
  logger,
  authCache,
  events,
  metrics,
  trustedDocuments,
}: YogaDeps): Yoga {
  const pq = config.persistedDocuments;
  const trusted = trustedDocuments ?? (pq.paths.length ? createTrustedDocuments(pq.paths, logger) : null);
  const development = config.nodeEnv === "development";
  // Enforcing, GraphiQL (free text) is served only on a development setting (NODE_ENV=development).
  const graphiql = config.graphiql && (pq.mode !== "enforce" || development);
  const bus = events ?? createEventBus({ redisUrl: null, channelPrefix: config.events.channelPrefix }, logger);
  const verifyJwt = config.jwt ? createJwtVerifier(config.jwt) : null;
  const observability = createObservability(logger, metrics, {
    willMask: (error) => maskWithInputErrors(error, "Unexpected error.") !== error,
  });
  const rateLimiter = createRequestRateLimiter(config, logger);
  const authenticate = createAuthenticator(db, verifyJwt, authCache);
  const yoga: Yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // Served from node_modules: no CDN, works on closed networks.
    graphiql: graphiql
      ? {
          title: "invites-gateway",
          // No default Authorization header: an invalid one would make the schema request fail.
          defaultQuery: [
            "# Welcome to invites-gateway.",
            "# Sign in: create a user and token with `npm run cli -- user create --email you@example.com`,",
            '# then add to the Headers pane below: { "Authorization": "Bearer <token>" }',
            "",
            "{",
            "  viewer {",
            "    id",
            "    email",
            "  }",
            "}",
            "",
          ].join("\n"),
        }
      : false,
    // Imported on the first GraphiQL page: its bundle is ~28 MB of strings in the heap (measured with
    // a heap snapshot at idle), which a server that never serves the page need not hold.
    renderGraphiQL: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
    maskedErrors: { maskError: maskWithInputErrors, isDev: false },
    logging: {
      debug: (...args) => logger.debug(args.length > 1 ? { args } : {}, String(args[0])),
      info: (...args) => logger.info(args.length > 1 ? { args } : {}, String(args[0])),
      warn: (...args) => logger.warn(args.length > 1 ? { args } : {}, String(args[0])),
      error: (...args) => {
        const err = args.find((a) => a instanceof Error);
        // Execution errors that masking replaces were logged with their request's id already.
        if (!observability.logged(err)) logger.error({ err }, String(args[0]));
      },
    },
    // Built once per request: authenticate once (the rate limit may have already: the same answer);
    // shield rules and resolvers reuse it. A /v1 request's GraphQL request is its /v1 request's.
    context: async ({ request }): Promise<Context> => {
      const viewer = await authenticate(restRequestOf(request) ?? request);
      const now = new Date();
      const scope = observability.scope(request);
      return {
        db,
        config,
        viewer,
        access: createAccess(db, viewer?.id ?? null, now),
        now,
        events: bus,
        requestId: scope.requestId,
        get log() {
          return scope.log;
        },
      };
    },
    // No file uploads (the schema has no Upload scalar): multipart bodies are refused with 415 rather
    // than parsed. Yoga's multipart parser answered a `map` entry that is not a list, or a map with
    // `operations` null, with a 500, and its other refusals (no `operations` field, JSON that does not
    // parse) with a 200 whose errors carried no code.
    multipart: false,
    // Trusted documents by id: `{"documentId": "<sha256>"}` (src/persisted-documents.ts).
    extraParamNames: ["documentId"],
    // Parsed documents and parse errors by their text, at most this much text in all (src/document-cache.ts):
    // Yoga's own caches keep 1,024 of each whatever their size, which distinct large documents filled
    // past the heap.
    parserAndValidationCache: {
      documentCache: createTextKeyedCache<DocumentNode>(CACHED_DOCUMENT_CHARS),
      errorCache: createTextKeyedCache<unknown>(CACHED_DOCUMENT_CHARS),
    },
    // Checked by useBodySizeLimit instead (the same limit and errors, without a stream per request).
    maxRequestBodySize: false,
    // No cross-origin access unless CORS_ORIGINS lists the origin (Yoga would reflect any origin).
    cors: config.corsOrigins.length
      ? {
          origin: config.corsOrigins,
          credentials: true,
          // PATCH and DELETE: the REST twin under /v1.
          methods: ["GET", "POST", "PATCH", "DELETE"],
          maxAge: 600,
          // A browser app may read how long to wait after a 429.
          exposedHeaders: ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        }
      : false,
    plugins: [
      // First: its onRequest must run before the rate limit's, which may end the request early, and
      // its onResponse (the x-request-id header) before the tracing plugin's, which reads it.
      observability.plugin,
      ...(config.tracing.enabled ? [useTracing()] : []),
      // Before the REST twin: a /v1 request is counted (and refused) like any other, once.
      ...(rateLimiter ? [useRequestRateLimit(rateLimiter, config.trustProxy, authenticate)] : []),
      useSubscriptionLimit(config.limits.subscriptionsPerCaller),
      // GitBook's REST operations under /v1, each run as a GraphQL request through this instance.
      useRestTwin(
        () => async (request, serverContext) => yoga.fetch(request, serverContext as Record<string, unknown>),
        config,
        (request) => observability.scope(request).log,
      ),
      useCsrfPrevention(),
      // Before the body size limit, which wraps the parser chosen (a chunked form body is counted too).
      useSearchParamsParser(),
      useBodySizeLimit(config.limits.bodyBytes),
      // APQ, then trusted documents: each turns an id into its document before it is parsed.
      ...usePersistedDocuments({
        config: pq,
        development,
        redisUrl: config.rateLimit.redisUrl,
        keyPrefix: config.rateLimit.keyPrefix,
        logger,
        trusted,
      }),
      useNestingLimit(config.limits.depth + NESTING_ALLOWANCE, config.limits.tokens),
      useRequestLimits(config),
      useCostLimit({ maxCost: config.limits.cost, maxRepresentations: config.limits.entityRepresentations }),
      ...(config.introspection ? [] : [useNoIntrospection()]),
      useSecurityHeaders(),
      useDatabaseFailureStatus(),
      useShield(),
    ],
  });
  return yoga;
}
