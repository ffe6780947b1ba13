import { createHash } from "node:crypto";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { type Authenticate, bearerToken } from "../../auth/tokens.js";
import type { Config } from "../../config.js";
import { loadRedis } from "../../db/redis.js";
import type { Logger } from "../../observability/logger.js";
import { isWebSocketOperation } from "../context.js";
import { isRestPath, isRestTwinRequest, restErrorResponse } from "../rest/handler.js";

/** What one request's check says: go on, or refuse it for `retryAfterMs`. */
export type RateDecision = { allowed: true } | { allowed: false; limit: number; retryAfterMs: number };

export interface RequestRateLimiter {
  /** Counts one request of `caller` against RATE_LIMIT_PER_MINUTE. */
  check(caller: string): Promise<RateDecision>;
  close(): Promise<void>;
}

/**
 * The per-caller request rate (RATE_LIMIT_PER_MINUTE, a fixed one-minute window). With REDIS_URL
 * the count lives in Redis, so replicas share it; without, in this process's memory. When Redis
 * cannot be reached, each replica counts in memory until it is back (rate-limiter-flexible's
 * insurance limiter): a Redis outage loosens the limit, it never takes the service down.
 */
export function createRequestRateLimiter(config: Config, logger: Logger): RequestRateLimiter | null {
  const { perMinute, redisUrl, keyPrefix } = config.rateLimit;
  if (perMinute === 0) return null;
  const options = { points: perMinute, duration: 60, keyPrefix: `${keyPrefix}:rate` };
  const memory = new RateLimiterMemory(options);
  let redis: Redis | null = null;
  let limiter: RateLimiterMemory | RateLimiterRedis = memory;
  let firstConnection: Promise<void> | null = null;
  if (redisUrl) {
    redis = new (loadRedis())(redisUrl, {
      // Fail over to memory at once instead of queueing requests behind a reconnecting client.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      lazyConnect: false,
    });
    let warned = false;
    redis.on("error", (error: Error) => {
      if (warned) return;
      warned = true;
      logger.warn({ err: error }, "Redis unreachable: request rate limits are counted in memory until it is back");
    });
    redis.on("ready", () => {
      warned = false;
    });
    // The first requests wait for the first connection (a few ms on a LAN, at most connectTimeout)
    // instead of being counted in memory: a replica that just started shares the count at once.
    const client = redis;
    firstConnection = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      const done = () => {
        clearTimeout(timer);
        client.off("ready", done);
        client.off("error", done);
        client.off("end", done);
        resolve();
      };
      client.once("ready", done);
      client.once("error", done);
      client.once("end", done);
    });
    limiter = new RateLimiterRedis({
      ...options,
      storeClient: redis,
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory,
    });
  }
  return {
    async check(caller) {
      if (firstConnection) {
        await firstConnection;
        firstConnection = null;
      }
      try {
        await limiter.consume(caller);
        return { allowed: true };
      } catch (result) {
        if (result instanceof RateLimiterRes) {
          return { allowed: false, limit: perMinute, retryAfterMs: result.msBeforeNext };
        }
        throw result;
      }
    },
    async close() {
      if (redis && redis.status !== "end") await redis.quit().catch(() => redis?.disconnect());
    },
  };
}

/**
 * Who a request counts against before it is authenticated: its bearer token when it has one (a
 * fingerprint, never the token itself: the key is stored in Redis), else its client address
 * (addressKey). Counting a token before it is looked up means a flood of one token, valid or not,
 * is refused past the limit without a database round trip. A token is a caller of its own only if
 * it verifies: one that fails counts against the address as well (useRequestRateLimit below),
 * so a fresh random token per request is no fresh budget.
 *
 * The token is read by src/auth/tokens.ts's bearerToken (scheme in any case, any whitespace around it), so
 * that `bearer T`, `Bearer  T` and `Bearer T` share one count: keyed on the raw header, each
 * spelling of a valid token would be a fresh budget. A header auth.ts refuses without a lookup
 * counts against the address.
 */
export function callerKey(request: Request, clientAddress: string | undefined): string {
  const token = bearerToken(request.headers.get("authorization"));
  if (token) return `cred:${createHash("sha256").update(token, "utf8").digest("base64url").slice(0, 32)}`;
  return addressKey(clientAddress);
}

/** The count of a client address: its anonymous requests and those whose credential failed. */
export function addressKey(clientAddress: string | undefined): string {
  return `addr:${clientAddress ?? "unknown"}`;
}

/** The address a request came from: the socket's, or behind a trusted proxy the one it appended. */
export function clientAddress(request: Request, serverContext: unknown, trustProxy: boolean): string | undefined {
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
export function useRequestRateLimit(
  limiter: RequestRateLimiter,
  trustProxy: boolean,
  authenticate: Authenticate,
): Plugin {
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
    // An operation over WebSocket (src/http/websocket.ts) has no HTTP request of its own, so onRequest never
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
