import { useGraphQLMiddleware } from "@envelop/graphql-middleware";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { PothosValidationError } from "@pothos/core";
import { GraphQLError, Kind, NoSchemaIntrospectionCustomRule } from "graphql";
import { createYoga, maskError, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { viewerFromRequest } from "./auth.js";
import type { Context } from "./builder.js";
import type { Config } from "./config.js";
import { createAccess } from "./domain/access.js";
import type { PrismaClient } from "./generated/prisma/client.js";
import { createJwtVerifier } from "./jwt.js";
import type { Logger } from "./logger.js";
import { permissions } from "./permissions.js";
import { schema } from "./schema/index.js";

/**
 * Yoga's masking (crashes become "Unexpected error."), plus a code for Pothos' own argument checks
 * (negative `first`, a malformed cursor) and for variables that do not fit their type (graphql-js
 * gives those no code): both are the client's mistake, BAD_USER_INPUT.
 */
function maskWithInputErrors(error: unknown, message: string): Error {
  if (error instanceof GraphQLError) {
    if (error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION && !error.extensions.code) {
      markBadInput(error);
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
 * graphql-armor: depth, aliases, tokens, directives and cost are checked before execution; a
 * refused request is a top-level error with extensions.code BAD_USER_INPUT. Introspection (which
 * GraphiQL and gateways need) is not counted.
 */
function useRequestLimits(config: Config): Plugin {
  const withCode = [(_ctx: unknown, error: GraphQLError) => markBadInput(error)];
  return EnvelopArmorPlugin({
    maxDepth: { n: config.limits.depth, ignoreIntrospection: true, flattenFragments: true, onReject: withCode },
    maxAliases: { n: config.limits.aliases, onReject: withCode },
    maxTokens: { n: config.limits.tokens, onReject: withCode },
    maxDirectives: { n: config.limits.directives, onReject: withCode },
    // Depth has its own limit: cost weighs breadth (objects 2, scalars 1, no per-level factor,
    // which would grow exponentially with depth and refuse ordinary nested queries).
    costLimit: {
      maxCost: config.limits.cost,
      depthCostFactor: 1,
      ignoreIntrospection: true,
      onReject: withCode,
    },
    // Suggestions ("Did you mean ...?") reveal the schema: only when introspection is on.
    blockFieldSuggestion: { enabled: !config.introspection },
  }) as Plugin;
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

export interface YogaDeps {
  db: PrismaClient;
  config: Config;
  logger: Logger;
}

export type Yoga = YogaServerInstance<Record<string, unknown>, Context>;

/** The GraphQL handler. It never listens: src/server.ts does, tests call `yoga.fetch`. */
export function createGraphQLHandler({ db, config, logger }: YogaDeps): Yoga {
  const verifyJwt = config.jwt ? createJwtVerifier(config.jwt) : null;
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // Served from node_modules: no CDN, works on closed networks.
    graphiql: config.graphiql
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
    renderGraphiQL,
    maskedErrors: { maskError: maskWithInputErrors, isDev: false },
    logging: {
      debug: (...args) => logger.debug(args.length > 1 ? { args } : {}, String(args[0])),
      info: (...args) => logger.info(args.length > 1 ? { args } : {}, String(args[0])),
      warn: (...args) => logger.warn(args.length > 1 ? { args } : {}, String(args[0])),
      error: (...args) => logger.error({ err: args.find((a) => a instanceof Error) }, String(args[0])),
    },
    // Built once per request: authenticate once; shield rules and resolvers reuse it.
    context: async ({ request }): Promise<Context> => {
      const viewer = await viewerFromRequest(db, request, verifyJwt);
      const now = new Date();
      return { db, config, viewer, access: createAccess(db, viewer?.id ?? null, now), now };
    },
    maxRequestBodySize: config.limits.bodyBytes,
    // No cross-origin access unless CORS_ORIGINS lists the origin (Yoga would reflect any origin).
    cors: config.corsOrigins.length
      ? { origin: config.corsOrigins, credentials: true, methods: ["GET", "POST"], maxAge: 600 }
      : false,
    plugins: [
      useRequestLimits(config),
      ...(config.introspection ? [] : [useNoIntrospection()]),
      useSecurityHeaders(),
      useGraphQLMiddleware([permissions]),
    ],
  });
}
