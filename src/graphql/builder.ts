import SchemaBuilder, { decodeBase64, decodeCursorChunk } from "@pothos/core";
import DirectivesPlugin from "@pothos/plugin-directives";
import ErrorsPlugin from "@pothos/plugin-errors";
import FederationPlugin from "@pothos/plugin-federation";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import { Kind } from "graphql";
import type { Config } from "../config.js";
import type { Access } from "../domain/access.js";
import type { Viewer } from "../domain/users.js";
import type { EventBus } from "../events/bus.js";
import type PrismaTypes from "../generated/pothos-types.js";
import { getDatamodel } from "../generated/pothos-types.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { badUserInput } from "./errors.js";

/** Built once per request by the context factory in src/http/context.ts. */
export interface Context {
  db: PrismaClient;
  config: Config;
  /** null when anonymous. */
  viewer: Viewer | null;
  /** What the viewer may see (roles, visibility), batched and memoized for the request. */
  access: Access;
  /** The request's clock: statuses derived from expiry use one instant per request. */
  now: Date;
  /** Published outbox events, for Subscription.organizationEvents. */
  events: EventBus;
  /** The request's id (the `x-request-id` response header). */
  requestId: string;
  /** A pino child logger whose lines carry the request's `reqId`. */
  log: Logger;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
}>({
  // Federation last: it must come after the plugins that wrap resolvers.
  plugins: [DirectivesPlugin, ErrorsPlugin, PrismaPlugin, RelayPlugin, FederationPlugin],
  defaultFieldNullability: false,
  prisma: {
    client: (ctx) => ctx.db,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    // N+1 regressions are caught by test/graphql/sql-counts.test.ts, which counts real SQL statements.
    // (onUnusedQuery: "error" would flag `viewer` resolving to null for anonymous callers.)
    onUnusedQuery: null,
  },
  relay: {
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    cursorType: "String",
    // Every subgraph defines PageInfo alike: shareable in the supergraph.
    pageInfoTypeOptions: { name: "PageInfo", shareable: true },
  },
  errors: { directResult: true },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== "string" || !ISO_8601.test(value)) {
    throw badUserInput("DateTime must be an ISO 8601 string with a time zone, e.g. 2030-01-31T12:00:00Z");
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw badUserInput(`Invalid DateTime: ${value}`);
  }
  return date;
}

builder.scalarType("DateTime", {
  description: "An instant, ISO 8601 in UTC (e.g. 2030-01-31T12:00:00.000Z). Inputs must carry a time zone.",
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) {
      throw badUserInput("DateTime must be a string");
    }
    return parseDateTime(ast.value);
  },
});

/** Entities are keyed by `id`; `resolveReference` gets `{ id }` from the gateway. */
export const idKey = () => builder.selection<{ id: string }>("id");

/** Page sizes: `first` defaults to 100; above 1000 or below 0 is a BAD_USER_INPUT error. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/**
 * Every cursor of this schema is made of text columns (an `id`, or Member's organizationId and
 * userId). Pothos decodes a cursor's tagged parts as whatever they say (`N:1` a number, `Z:` null)
 * and hands them to Prisma, which refused an edited cursor's number where a String goes: a crash
 * ("Unexpected error.", logged as one) instead of the client's mistake. A cursor that decodes to
 * anything but text is refused here, as Pothos refuses one it cannot decode; one that does not
 * decode at all is left to Pothos.
 */
function checkCursor(name: string, cursor: string | null | undefined): void {
  if (typeof cursor !== "string") return;
  let parts: unknown;
  try {
    const decoded = decodeBase64(cursor);
    if (!decoded.startsWith("GPC:")) return;
    parts = decodeCursorChunk(decoded.slice(4));
  } catch {
    return;
  }
  if (!(Array.isArray(parts) ? parts : [parts]).every((part) => typeof part === "string")) {
    throw badUserInput(`Invalid cursor in ${name}`);
  }
}

export function pageSize(args: {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}): number {
  checkCursor("after", args.after);
  checkCursor("before", args.before);
  for (const [name, value] of [
    ["first", args.first],
    ["last", args.last],
  ] as const) {
    if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw badUserInput(`${name} must be between 0 and ${MAX_PAGE_SIZE}`);
    }
  }
  return MAX_PAGE_SIZE;
}

export const connectionPaging = { maxSize: pageSize, defaultSize: DEFAULT_PAGE_SIZE } as const;
