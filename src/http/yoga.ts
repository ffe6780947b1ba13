import type { APQStore } from "@graphql-yoga/plugin-apq";
import type { DocumentNode } from "graphql";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { createJwtVerifier } from "../auth/jwt.js";
import { type AuthCache, createAuthenticator } from "../auth/tokens.js";
import type { Config } from "../config.js";
import { createEventBus, type EventBus } from "../events/bus.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Context } from "../graphql/builder.js";
import { maskWithInputErrors } from "../graphql/errors.js";
import { schema } from "../graphql/schema/index.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { useTracing } from "../observability/tracing.js";
import { createContextFactory } from "./context.js";
import { useBodySizeLimit } from "./plugins/body-size-limit.js";
import { useCostLimit } from "./plugins/cost-limit.js";
import { useCsrfPrevention } from "./plugins/csrf.js";
import { useDatabaseFailureStatus } from "./plugins/database-failure-status.js";
import { createTextKeyedCache } from "./plugins/document-cache.js";
import { useNestingLimit } from "./plugins/nesting-limit.js";
import { useNoIntrospection } from "./plugins/no-introspection.js";
import { createObservability } from "./plugins/observability.js";
import { createTrustedDocuments, type TrustedDocuments, usePersistedDocuments } from "./plugins/persisted-documents.js";
import { createRequestRateLimiter, useRequestRateLimit } from "./plugins/rate-limit.js";
import { useRequestLimits } from "./plugins/request-limits.js";
import { useSearchParamsParser } from "./plugins/search-params-parser.js";
import { useSecurityHeaders } from "./plugins/security-headers.js";
import { useShield } from "./plugins/shield.js";
import { useSubscriptionLimit } from "./plugins/subscription-limit.js";
import { useRestTwin } from "./rest/handler.js";

/**
 * The GraphQL handler: createYoga with its options and the list of plugins, in the order they run.
 * Each plugin is a file of src/http/plugins/; the context factory is src/http/context.ts.
 */

/**
 * The text of the documents (and, apart, of the documents that failed to parse) kept parsed: a
 * hundred or more of an application's operations. A parsed document holds up to ~250 bytes of heap
 * per character (its tokens, its nodes, its validation errors): ~60 MB at most in all.
 */
const CACHED_DOCUMENT_CHARS = 250_000;

/** Brackets a document may open beyond MAX_DEPTH's selection sets: arguments, lists, input objects. */
const NESTING_ALLOWANCE = 64;

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
  /** APQ's store, shared with graphql-ws (src/server.ts closes it); none: one of the handler's own. */
  apqStore?: APQStore | null | undefined;
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
  apqStore,
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
    // Built once per request (src/http/context.ts).
    context: createContextFactory({ db, config, authenticate, events: bus, observability }),
    // No file uploads (the schema has no Upload scalar): multipart bodies are refused with 415 rather
    // than parsed. Yoga's multipart parser answered a `map` entry that is not a list, or a map with
    // `operations` null, with a 500, and its other refusals (no `operations` field, JSON that does not
    // parse) with a 200 whose errors carried no code.
    multipart: false,
    // Trusted documents by id: `{"documentId": "<sha256>"}` (src/http/plugins/persisted-documents.ts).
    extraParamNames: ["documentId"],
    // Parsed documents and parse errors by their text, at most this much text in all
    // (src/http/plugins/document-cache.ts): Yoga's own caches keep 1,024 of each whatever their size,
    // which distinct large documents filled past the heap.
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
        apqStore,
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
