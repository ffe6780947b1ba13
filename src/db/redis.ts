import { createRequire } from "node:module";
import type { Redis } from "ioredis";

const require = createRequire(import.meta.url);

/**
 * ioredis' client class, loaded on first use: only with REDIS_URL (the request rate limit, the
 * event bus). A process without Redis does not load the package (about 1.4 MB of heap and 8 MB of
 * RSS at start, measured in bench/results/memory-2026-12-03.md). `require` keeps the callers
 * synchronous; ioredis is a CommonJS package.
 */
export function loadRedis(): typeof Redis {
  return (require("ioredis") as typeof import("ioredis")).Redis;
}
