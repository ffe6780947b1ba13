import type { IncomingMessage } from "node:http";
import type { Authenticate } from "../auth/tokens.js";
import type { Config } from "../config.js";
import { createAccess } from "../domain/access.js";
import type { EventBus } from "../events/bus.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Context } from "../graphql/builder.js";
import type { Observability } from "./plugins/observability.js";
import { restRequestOf } from "./rest/handler.js";

export interface ContextDeps {
  db: PrismaClient;
  config: Config;
  authenticate: Authenticate;
  events: EventBus;
  observability: Observability;
}

/**
 * The context factory. Built once per request: authenticate once (the rate limit may have already:
 * the same answer); shield rules and resolvers reuse it. A /v1 request's GraphQL request is its /v1
 * request's.
 */
export function createContextFactory({
  db,
  config,
  authenticate,
  events,
  observability,
}: ContextDeps): (initial: { request: Request }) => Promise<Context> {
  return async ({ request }): Promise<Context> => {
    const viewer = await authenticate(restRequestOf(request) ?? request);
    const now = new Date();
    const scope = observability.scope(request);
    return {
      db,
      config,
      viewer,
      access: createAccess(db, viewer?.id ?? null, now),
      now,
      events,
      requestId: scope.requestId,
      get log() {
        return scope.log;
      },
    };
  };
}

/**
 * The initial context of one operation over WebSocket (src/http/websocket.ts): a Request made of the
 * connection's `connectionParams` (its Authorization) so that authentication, the rate limit and the
 * context factory read it as they read an HTTP request, and the upgrade request (`req`: the address).
 */
export interface WebSocketOperationContext {
  request: Request;
  req: IncomingMessage;
  websocket: true;
}

export function isWebSocketOperation(context: unknown): context is WebSocketOperationContext {
  return (context as Partial<WebSocketOperationContext>).websocket === true;
}
