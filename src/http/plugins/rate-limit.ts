import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { bearerToken } from "../../auth/tokens.js";
import type { Config } from "../../config.js";
import { loadRedis } from "../../db/redis.js";
import type { Logger } from "../../observability/logger.js";

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
 * it verifies: one that fails counts against the address as well (src/yoga.ts useRequestRateLimit),
 * so a fresh random token per request is no fresh budget.
 *
 * The token is read by src/auth.ts's bearerToken (scheme in any case, any whitespace around it), so
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
