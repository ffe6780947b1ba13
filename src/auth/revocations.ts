import type pg from "pg";
import { TOKEN_REVOKED_CHANNEL } from "../domain/users.js";
import type { Logger } from "../observability/logger.js";
import type { AuthCache } from "./tokens.js";

const RECONNECT_MS = 1_000;

/**
 * Keeps an AuthCache honest across processes on PostgreSQL: LISTENs on TOKEN_REVOKED_CHANNEL (a
 * `token revoke` run by the CLI in another process, or another replica, NOTIFYs it) and evicts the
 * revoked token. The cache is active only while the subscription is up: when the connection
 * drops, the cache is emptied and bypassed until it is back.
 */
export function listenForRevocations(
  connectionString: string,
  cache: AuthCache,
  logger: Logger,
  connectTimeoutMs: number,
): { close(): Promise<void> } {
  cache.active = false;
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  /** Turns the cache off and lets the connection go: its listeners removed (errors ignored), ended. */
  const release = async () => {
    cache.active = false;
    const last = client;
    client = undefined;
    last?.removeAllListeners();
    last?.on("error", () => {});
    await last?.end().catch(() => {});
  };

  const drop = (error?: unknown) => {
    void release();
    if (closed) return;
    if (error) logger.warn({ err: error }, "token revocation listener lost its connection; auth cache off until back");
    timer ??= setTimeout(() => {
      timer = undefined;
      void connect();
    }, RECONNECT_MS);
  };

  const connect = async () => {
    // Loaded on PostgreSQL only (this runs only there).
    const { default: pgModule } = await import("pg");
    if (closed) return;
    const next = new pgModule.Client({ connectionString, connectionTimeoutMillis: connectTimeoutMs });
    client = next;
    next.on("error", (error) => drop(error));
    next.on("end", () => {
      if (client === next) drop(new Error("connection ended"));
    });
    next.on("notification", (message) => {
      if (message.channel === TOKEN_REVOKED_CHANNEL && message.payload) cache.delete(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${TOKEN_REVOKED_CHANNEL}`);
      if (client === next && !closed) cache.active = true;
    } catch (error) {
      if (client === next) drop(error);
    }
  };
  void connect();

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await release();
    },
  };
}
