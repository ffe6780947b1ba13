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
  const documentId = (params as { documentId?: unknown }).documentId;
  if (typeof documentId === "string" && documentId !== "") return documentId;
  const apq = params.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
  if (apq && typeof apq === "object" && apq.version === 1 && typeof apq.sha256Hash === "string") {
    return apq.sha256Hash;
  }
  return null;
}

/** Whether `given` is the gateway's secret, compared in constant time (both sides hashed first). */
export function isGatewaySecret(given: string | null, secret: string | null): boolean {
  if (!given || !secret) return false;
  return timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(secret).digest());
}

/** APQ's store in Redis (REDIS_URL): shared by the replicas, each entry kept APQ_TTL. */
export function createRedisAPQStore(
  redisUrl: string,
  keyPrefix: string,
  ttlMs: number,
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
  const key = (hash: string) => `${keyPrefix}:apq:${hash}`;
  return {
    // A failing Redis is a miss: the client sends the whole document again, which then runs.
    get: (hash) => redis.get(key(hash)).catch(() => null),
    set: (hash, query) => redis.set(key(hash), query, "PX", ttlMs).catch(() => null),
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

/** Who may run free text, and which document an operation's params name: HTTP and graphql-ws alike. */
export interface DocumentGate {
  /** Free text runs unless enforcing, but for the REST twin, a gateway with GATEWAY_SECRET, and development. */
  mayRunFreeText(request: Request): boolean;
  /** The text an operation runs (a listed document, or its own free text), or why it may not run. */
  documentOf(params: GraphQLParams, request: Request): string | GraphQLError;
}

export function createDocumentGate(
  deps: Pick<PersistedDocumentsDeps, "config" | "trusted" | "development">,
): DocumentGate {
  const { config, trusted } = deps;
  const enforce = config.mode === "enforce";
  const mayRunFreeText = (request: Request) =>
    !enforce ||
    deps.development ||
    isRestTwinRequest(request) ||
    isGatewaySecret(request.headers.get("x-gateway-secret"), config.gatewaySecret);
  return {
    mayRunFreeText,
    documentOf(params, request) {
      const id = trusted && config.mode !== "off" ? persistedDocumentId(params) : null;
      if (trusted && id !== null) return trusted.get(id) ?? notFound();
      if (!mayRunFreeText(request)) return persistedQueryOnly();
      return params.query ?? keyNotFound();
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
export function usePersistedDocuments(deps: PersistedDocumentsDeps): Plugin[] {
  const { config, trusted } = deps;
  const plugins: Plugin[] = [];
  let store: (APQStore & { close?: () => Promise<void> }) | null = null;
  if (config.mode !== "enforce") {
    store = deps.redisUrl
      ? createRedisAPQStore(deps.redisUrl, deps.keyPrefix, config.apqTtlMs, deps.logger)
      : createInMemoryAPQStore({ max: config.apqMaxEntries, ttl: config.apqTtlMs });
    const apq = useAPQ({ store }) as Plugin;
    plugins.push({
      // A hash the manifest lists is the trusted documents' (a Relay id is no hash of its text).
      onParams(payload) {
        const id = persistedDocumentId(payload.params);
        if (trusted && id !== null && trusted.get(id) !== undefined) return;
        return apq.onParams?.(payload);
      },
      onDispose: () => store?.close?.(),
    });
  }
  if (trusted && config.mode !== "off") {
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
