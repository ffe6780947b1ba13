import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { type APQStore, createInMemoryAPQStore, useAPQ } from "@graphql-yoga/plugin-apq";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import type { GraphQLError } from "graphql";
import { createGraphQLError, type GraphQLParams, type Plugin } from "graphql-yoga";
import type { Redis } from "ioredis";
import { ConfigError, type PersistedDocumentsConfig } from "../../config.js";
import { loadRedis } from "../../db/redis.js";
import type { Logger } from "../../observability/logger.js";
import { isRestTwinRequest } from "../rest/handler.js";

const SHA256_HEX = /^[0-9a-f]{64}$/i;
/** A Relay (or other) id that is not a sha256: letters, digits and `_ - . :`. */
const OTHER_ID = /^[\w.:-]{1,200}$/;

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * Reads and checks the manifests `{ "<id>": "<document>" }` (GraphQL Codegen client-preset's
 * persisted-documents.json, Relay's persisted queries): an id of 64 hex digits must be the sha256 of
 * its text; any other id is taken as a Relay id. Several files are merged; one id with two different
 * texts is an error. Throws ConfigError naming the file and the id.
 */
export function readManifests(paths: readonly string[]): Map<string, string> {
  const documents = new Map<string, string>();
  for (const path of paths) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new ConfigError(`Invalid configuration: PERSISTED_DOCUMENTS: ${path}: ${(error as Error).message}`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigError(`Invalid configuration: PERSISTED_DOCUMENTS: ${path}: not a JSON object of id -> document`);
    }
    for (const [rawId, text] of Object.entries(parsed)) {
      const fail = (why: string) =>
        new ConfigError(`Invalid configuration: PERSISTED_DOCUMENTS: ${path}: "${rawId.slice(0, 80)}": ${why}`);
      if (typeof text !== "string" || text.trim() === "") throw fail("the document is not a non-empty string");
      const id = SHA256_HEX.test(rawId) ? rawId.toLowerCase() : rawId;
      if (SHA256_HEX.test(id)) {
        if (sha256Hex(text) !== id) throw fail("the id is not the sha256 of the document");
      } else if (!OTHER_ID.test(id)) {
        throw fail("not a sha256 hex digest nor an id of letters, digits and _ - . :");
      }
      const known = documents.get(id);
      if (known !== undefined && known !== text) throw fail("listed again with a different document");
      documents.set(id, text);
    }
  }
  return documents;
}

/** The trusted documents of PERSISTED_DOCUMENTS, reloaded on SIGHUP (src/server.ts). */
export interface TrustedDocuments {
  get(id: string): string | undefined;
  readonly size: number;
  /** Reads the files again; on failure keeps the documents it had, logs one error line, returns false. */
  reload(): boolean;
}

export function createTrustedDocuments(paths: readonly string[], logger: Logger): TrustedDocuments {
  let documents = readManifests(paths);
  return {
    get: (id) => documents.get(SHA256_HEX.test(id) ? id.toLowerCase() : id),
    get size() {
      return documents.size;
    },
    reload() {
      try {
        documents = readManifests(paths);
        logger.info({ documents: documents.size }, "persisted documents reloaded");
        return true;
      } catch (error) {
        logger.error(
          { documents: documents.size },
          `persisted documents not reloaded, the previous ones stay: ${(error as Error).message}`,
        );
        return false;
      }
    },
  };
}

/** The id a request names: `documentId`, or Apollo's `extensions.persistedQuery.sha256Hash`. */
export function persistedDocumentId(params: GraphQLParams): string | null {
  return documentIdOf(params) ?? apqHashOf(params);
}

/** Whether `given` is the gateway's secret, compared in constant time (both sides hashed first). */
export function isGatewaySecret(given: string | null, secret: string | null): boolean {
  if (!given || !secret) return false;
  return timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(secret).digest());
}

/**
 * The longest document APQ keeps. APQ stores what a client registers before it is parsed or checked,
 * and anyone may register: documents up to MAX_BODY_BYTES (1 MB), APQ_MAX_ENTRIES of them, held 1 GB
 * of heap (an anonymous caller filled it in a minute, under the rate limit). A longer document still
 * runs; it is not kept, so its client sends it whole each time (APQ's own answer to a miss).
 */
export const APQ_MAX_DOCUMENT_CHARS = 64 * 1024;
/** A hash APQ can have kept: the lowercase hex sha256 it checks a registered text against. */
const APQ_HASH = /^[0-9a-f]{64}$/;

/** `store` keeping only documents of at most APQ_MAX_DOCUMENT_CHARS, and looked up only by a real hash. */
export function boundedAPQStore(store: APQStore): APQStore {
  return {
    get: (hash) => (APQ_HASH.test(hash) ? store.get(hash) : null),
    set: (hash, query) => (query.length <= APQ_MAX_DOCUMENT_CHARS ? store.set(hash, query) : undefined),
  };
}

/**
 * SET of one APQ entry (KEYS[1]) with its TTL, and its hash in the index of the entries (KEYS[2], a
 * sorted set by time of registration): past `max` entries, the oldest are deleted. ARGV: the text,
 * the TTL in ms, now in ms, the hash, max, the entries' key prefix.
 */
const SET_BOUNDED = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  for _, hash in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', ARGV[6] .. hash)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
`;

/**
 * APQ's store in Redis (REDIS_URL): shared by the replicas, each entry kept APQ_TTL, and at most
 * APQ_MAX_ENTRIES in all (the oldest registered go first), as in memory: a TTL alone let anyone fill
 * Redis with a day's worth of registrations.
 */
export function createRedisAPQStore(
  redisUrl: string,
  keyPrefix: string,
  ttlMs: number,
  maxEntries: number,
  logger: Logger,
): APQStore & { close(): Promise<void> } {
  const redis: Redis = new (loadRedis())(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
  });
  let warned = false;
  redis.on("error", (error: Error) => {
    if (!warned) logger.warn({ err: error }, "APQ store: Redis unavailable, hashes are not found until it is back");
    warned = true;
  });
  redis.on("ready", () => {
    warned = false;
  });
  const prefix = `${keyPrefix}:apq:`;
  const index = `${keyPrefix}:apq-index`;
  return {
    // A failing Redis is a miss: the client sends the whole document again, which then runs.
    get: (hash) => redis.get(prefix + hash).catch(() => null),
    set: (hash, query) =>
      redis
        .eval(SET_BOUNDED, 2, prefix + hash, index, query, ttlMs, Date.now(), hash, maxEntries, prefix)
        .catch(() => null),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export interface PersistedDocumentsDeps {
  config: PersistedDocumentsConfig;
  /** development: enforce lets free text through (GraphiQL works). */
  development: boolean;
  redisUrl: string | null;
  keyPrefix: string;
  logger: Logger;
  trusted: TrustedDocuments | null;
}

const refused = (message: string, code: string, status: number) => () =>
  createGraphQLError(message, { extensions: { code, http: { status } } });

const persistedQueryOnly = refused(
  'Only trusted documents run here: send {"documentId": "<sha256 of the document>"} (PERSISTED_DOCUMENTS_MODE=enforce)',
  "PERSISTED_QUERY_ONLY",
  400,
);
const notFound = refused("PersistedQueryNotFound: no trusted document has this id", "PERSISTED_QUERY_NOT_FOUND", 404);
const keyNotFound = refused('Send a "query" or a "documentId"', "BAD_REQUEST", 400);

const persistedQueryNotSupported = refused(
  'PersistedQueryNotSupported: no trusted documents here (PERSISTED_DOCUMENTS is not set): send the "query"',
  "PERSISTED_QUERY_NOT_SUPPORTED",
  400,
);
/** APQ's answers, as @graphql-yoga/plugin-apq words them over HTTP (clients match the message). */
const apqNotFound = refused("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", 404);
const apqMismatch = refused(
  "PersistedQueryMismatch: the sha256Hash is not the sha256 of the query",
  "PERSISTED_QUERY_MISMATCH",
  400,
);

/** APQ's store: in Redis with REDIS_URL (shared by the replicas), else in memory; none in enforce. */
export function createAPQStore(
  deps: Pick<PersistedDocumentsDeps, "config" | "redisUrl" | "keyPrefix" | "logger">,
): (APQStore & { close?: () => Promise<void> }) | null {
  const { config } = deps;
  if (config.mode === "enforce") return null;
  const store: APQStore & { close?: () => Promise<void> } = deps.redisUrl
    ? createRedisAPQStore(deps.redisUrl, deps.keyPrefix, config.apqTtlMs, config.apqMaxEntries, deps.logger)
    : createInMemoryAPQStore({ max: config.apqMaxEntries, ttl: config.apqTtlMs });
  return { ...boundedAPQStore(store), close: () => store.close?.() ?? Promise.resolve() };
}

/** A request's `documentId` (not Apollo's hash). */
function documentIdOf(params: GraphQLParams): string | null {
  const documentId = (params as { documentId?: unknown }).documentId;
  return typeof documentId === "string" && documentId !== "" ? documentId : null;
}

/** Apollo's `extensions.persistedQuery.sha256Hash` (APQ, and codegen's hashes sent the Apollo way). */
function apqHashOf(params: GraphQLParams): string | null {
  const apq = params.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
  return apq && typeof apq === "object" && apq.version === 1 && typeof apq.sha256Hash === "string"
    ? apq.sha256Hash
    : null;
}

/** Who may run free text, and which document an operation's params name: HTTP and graphql-ws alike. */
export interface DocumentGate {
  /** Free text runs unless enforcing, but for the REST twin, a gateway with GATEWAY_SECRET, and development. */
  mayRunFreeText(request: Request): boolean;
  /**
   * The text an operation runs (a listed document, an APQ hash's, or its own free text), or why it may
   * not run. Over graphql-ws: Yoga's plugins do this over HTTP, from params graphql-ws does not give them.
   */
  documentOf(params: GraphQLParams, request: Request): Promise<string | GraphQLError>;
}

export function createDocumentGate(
  deps: Pick<PersistedDocumentsDeps, "config" | "trusted" | "development"> & {
    /** APQ's store, the one HTTP uses (createAPQStore); null in enforce. */
    apqStore?: APQStore | null | undefined;
  },
): DocumentGate {
  const { config } = deps;
  const trusted = config.mode !== "off" ? deps.trusted : null;
  const store = config.mode !== "enforce" ? (deps.apqStore ?? null) : null;
  const enforce = config.mode === "enforce";
  const mayRunFreeText = (request: Request) =>
    !enforce ||
    deps.development ||
    isRestTwinRequest(request) ||
    isGatewaySecret(request.headers.get("x-gateway-secret"), config.gatewaySecret);
  return {
    mayRunFreeText,
    async documentOf(params, request) {
      const documentId = documentIdOf(params);
      const hash = apqHashOf(params);
      // The order of Yoga's plugins over HTTP: a listed id runs its document; then APQ (not in
      // enforce); then the trusted documents' rules for free text and unknown ids.
      const id = documentId ?? hash;
      const listed = trusted && id !== null ? trusted.get(id) : undefined;
      if (listed !== undefined) return listed;
      let text = params.query || null;
      if (store && hash !== null) {
        if (text === null) {
          text = (await store.get(hash)) ?? null;
          if (text == null) return apqNotFound();
        } else {
          if (sha256Hex(text) !== hash) return apqMismatch();
          await store.set(hash, text);
        }
      }
      if (!trusted) {
        if (text === null && documentId !== null) return persistedQueryNotSupported();
        return text ?? keyNotFound();
      }
      if (text !== null) return mayRunFreeText(request) ? text : persistedQueryOnly();
      return id ? notFound() : keyNotFound();
    },
  };
}

/**
 * Trusted documents (@graphql-yoga/plugin-persisted-operations) and APQ (@graphql-yoga/plugin-apq).
 * - off (no PERSISTED_DOCUMENTS): APQ only.
 * - allow: a listed id runs its document; free text runs; an Apollo hash not listed is APQ's.
 * - enforce: only listed documents, no APQ. Free text runs only for the REST twin's own operations,
 *   a gateway that sends GATEWAY_SECRET in `x-gateway-secret`, and with NODE_ENV=development.
 */
export function usePersistedDocuments(
  deps: PersistedDocumentsDeps & {
    /** APQ's store when the caller shares it (src/server.ts: with graphql-ws) and closes it; else one of its own. */
    apqStore?: APQStore | null | undefined;
  },
): Plugin[] {
  const { config, trusted } = deps;
  const plugins: Plugin[] = [];
  const own = deps.apqStore === undefined;
  const store: (APQStore & { close?: () => Promise<void> }) | null = own
    ? createAPQStore(deps)
    : (deps.apqStore ?? null);
  if (store && config.mode !== "enforce") {
    const apq = useAPQ({ store }) as Plugin;
    plugins.push({
      // A hash the manifest lists is the trusted documents' (a Relay id is no hash of its text).
      onParams(payload) {
        const id = persistedDocumentId(payload.params);
        if (trusted && id !== null && trusted.get(id) !== undefined) return;
        return apq.onParams?.(payload);
      },
      onDispose: () => (own ? store.close?.() : undefined),
    });
  }
  if (!trusted || config.mode === "off") {
    // `documentId` without trusted documents: Yoga would answer "Must provide query string.".
    plugins.push({
      onParams({ params }) {
        if (documentIdOf(params) !== null && !params.query) throw persistedQueryNotSupported();
      },
    });
  } else {
    const gate = createDocumentGate(deps);
    plugins.push(
      usePersistedOperations({
        getPersistedOperation: (id) => trusted.get(id) ?? null,
        extractPersistedOperationId: (params) => persistedDocumentId(params),
        allowArbitraryOperations: (request) => gate.mayRunFreeText(request),
        customErrors: { persistedQueryOnly, notFound, keyNotFound },
      }) as Plugin,
    );
  }
  return plugins;
}
