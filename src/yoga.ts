import { useGraphQLMiddleware } from "@envelop/graphql-middleware";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { PothosValidationError } from "@pothos/core";
import { GraphQLError } from "graphql";
import { createYoga, maskError, type YogaServerInstance } from "graphql-yoga";
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
 * (negative `first`, a malformed cursor): those are the client's mistake, BAD_USER_INPUT.
 */
function maskWithInputErrors(error: unknown, message: string, isDev?: boolean): Error {
  if (error instanceof GraphQLError) {
    const cause = error instanceof PothosValidationError ? error : error.originalError;
    if (cause instanceof PothosValidationError && !error.extensions.code) {
      // The same error object with a code: Yoga logs every error that masking replaces, and a
      // client's bad argument is not worth an error-level log line.
      (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
      return error;
    }
  }
  return maskError(error, message, isDev);
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
    maskedErrors: { maskError: maskWithInputErrors },
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
    plugins: [useGraphQLMiddleware([permissions])],
  });
}
