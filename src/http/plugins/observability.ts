import { type ExecutionResult, type GraphQLError, getOperationAST } from "graphql";
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import type { Context } from "../../graphql/builder.js";
import { type Logger, requestIdFrom } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import { spanPath } from "../../observability/tracing.js";
import { isRestPath, restErrorReason, restRequestOf } from "../rest/handler.js";

/** What the plugin learns about one request on its way through Yoga. */
interface RequestRecord {
  id: string;
  start: number;
  log: Logger | undefined;
  operationType: string;
  operationName: string | undefined;
  viewerId: string | null;
  errorCodes: string[] | undefined;
}

/** The request id (x-request-id) and pino child logger of a request Yoga is handling. */
export interface RequestScope {
  requestId: string;
  log: Logger;
}

export interface Observability {
  plugin: Plugin;
  /** For the context factory: the request's id and logger (a child carrying `reqId`, made on first use). */
  scope(request: Request): RequestScope;
  /**
   * Whether this error was already logged with its request's id (an execution error that masking
   * replaces): Yoga's own logger skips those, so that each is logged once.
   */
  logged(error: unknown): boolean;
}

export interface ObservabilityOptions {
  /**
   * Whether masking will replace this execution error (a crash, a database failure): such errors
   * are logged at `error` level with the request's id, before Yoga masks them.
   */
  willMask?: (error: GraphQLError) => boolean;
}

/**
 * One plugin for the request id, the request's log line and its metrics:
 * - the id is the one src/server.ts chose (`serverContext.requestId`: a valid incoming `x-request-id`
 *   or a new UUID), or chosen here for requests that come through `yoga.fetch`; it goes back in the
 *   `x-request-id` response header and into every log line of the request (`reqId`);
 * - one `info` line per request when its response is ready (`error` for a 5xx): operation name and
 *   type, viewer id, outcome (`ok`, or `error` with the top-level error codes), HTTP status, duration;
 * - the request counter and latency histogram of src/observability/metrics.ts.
 * A REST twin request (/v1) and the GraphQL request the twin makes for it share one record: the
 * GraphQL request fills in the operation, viewer and error codes, and only the /v1 request, with
 * the client's method, path and status, is logged and counted.
 * Per request it reads the operation from the parsed document (no printing, no serialization) and
 * the codes of top-level errors; nothing else.
 */
export function createObservability(
  logger: Logger,
  metrics: Metrics | undefined,
  options: ObservabilityOptions = {},
): Observability {
  const records = new WeakMap<Request, RequestRecord>();
  const loggedErrors = new WeakSet<object>();
  const { willMask } = options;
  const recordOf = (request: Request): RequestRecord => {
    let record = records.get(request);
    if (!record) {
      record = newRecord(requestIdFrom(request.headers.get("x-request-id")));
      records.set(request, record);
    }
    return record;
  };
  const logEnabled = () => logger.isLevelEnabled("info");

  const plugin: Plugin = {
    onRequest({ request, serverContext }) {
      const rest = restRequestOf(request);
      const shared = rest && records.get(rest);
      if (shared) {
        records.set(request, shared);
        return;
      }
      const given = (serverContext as { requestId?: unknown } | undefined)?.requestId;
      records.set(
        request,
        newRecord(typeof given === "string" ? given : requestIdFrom(request.headers.get("x-request-id"))),
      );
    },
    onParams({ request, params }) {
      // The name the client gave, until the parsed document names the operation (onValidate); a
      // document that does not parse keeps it (in the log line; metrics count it as `none`).
      const record = records.get(request);
      if (record && typeof params.operationName === "string") record.operationName = params.operationName.slice(0, 100);
    },
    onValidate({ context, params }) {
      // The parsed document names the operation (the validation cache still calls this hook), so
      // that requests refused before execution (a bad token, a denied query) are counted by name.
      const request = (context as { request?: Request }).request;
      const record = request && records.get(request);
      if (!record) return;
      const operation = getOperationAST(
        params.documentAST,
        (context as { params?: { operationName?: string } }).params?.operationName,
      );
      if (!operation) return;
      record.operationType = operation.operation;
      record.operationName = operation.name?.value;
    },
    onExecute({ args }) {
      const context = args.contextValue as Partial<Context> & { request?: Request };
      const record = context.request && records.get(context.request);
      if (!record) return;
      record.viewerId = context.viewer?.id ?? null;
      if (!willMask) return;
      // Before Yoga's masking (its plugin comes after ours): the original error, logged with reqId.
      const logCrashes = (result: ExecutionResult) => {
        for (const error of result.errors ?? []) {
          if (loggedErrors.has(error) || !willMask(error)) continue;
          loggedErrors.add(error);
          logOf(record).error({ err: error.originalError ?? error, path: error.path?.join(".") }, "unexpected error");
        }
      };
      return {
        onExecuteDone({ result }) {
          if (!isAsyncIterable(result)) {
            if (result.errors?.length) logCrashes(result);
            return;
          }
          return { onNext: ({ result: next }) => logCrashes(next) };
        },
      };
    },
    onSubscribe({ args }) {
      const context = args.contextValue as Partial<Context> & { request?: Request };
      const record = context.request && records.get(context.request);
      if (record) record.viewerId = context.viewer?.id ?? null;
    },
    onResultProcess({ request, result }) {
      const record = records.get(request);
      if (!record) return;
      for (const one of Array.isArray(result) ? result : [result]) {
        const errors = (one as { errors?: ReadonlyArray<{ extensions?: { code?: unknown } }> }).errors;
        if (!errors?.length) continue;
        record.errorCodes ??= [];
        for (const error of errors) {
          const code = typeof error.extensions?.code === "string" ? error.extensions.code : "UNCODED";
          if (!record.errorCodes.includes(code)) record.errorCodes.push(code);
        }
      }
    },
    onResponse({ request, response }) {
      const record = records.get(request);
      if (!record) return;
      response.headers.set("x-request-id", record.id);
      // The GraphQL request of a /v1 request: the /v1 request says what the client got, once.
      if (restRequestOf(request)) return;
      const status = response.status;
      const codes = record.errorCodes ?? (status >= 400 ? [responseErrorCode(request, status)] : []);
      const seconds = (performance.now() - record.start) / 1000;
      metrics?.observe({
        operationType: record.operationType,
        // Names are labels only for signed-in callers: an anonymous client cannot use up the
        // METRICS_MAX_OPERATION_NAMES slots with made-up names (it counts as `anonymous`).
        operationName: record.viewerId === null ? undefined : record.operationName,
        outcome: codes[0] ?? "ok",
        seconds,
      });
      if (!logEnabled()) return;
      const pathname = new URL(request.url).pathname;
      const rest = isRestPath(pathname);
      const line = {
        reqId: record.id,
        method: request.method,
        // Ids replaced by their names, as in spans: a link's id is its secret.
        path: rest ? spanPath(pathname) : undefined,
        operationName: record.operationName,
        operationType: record.operationType,
        viewerId: record.viewerId,
        outcome: codes.length ? "error" : "ok",
        errorCodes: codes.length ? codes : undefined,
        status,
        durationMs: Math.round(seconds * 100_000) / 100,
      };
      const message = rest ? "rest request" : "graphql request";
      if (status >= 500) logger.error(line, message);
      else logger.info(line, message);
    },
  };

  return {
    plugin,
    scope(request) {
      const record = recordOf(request);
      return {
        requestId: record.id,
        get log() {
          return logOf(record);
        },
      };
    },
    logged: (error) => typeof error === "object" && error !== null && loggedErrors.has(error),
  };

  function logOf(record: RequestRecord): Logger {
    record.log ??= logger.child({ reqId: record.id });
    return record.log;
  }
}

/**
 * The code of an error response without top-level GraphQL errors: the `reason` the REST twin gave
 * (a bad body, a 404, a 405, a route's error result such as ALREADY_MEMBER), the rate limit's 429
 * (an early response, without a result), else the status.
 */
function responseErrorCode(request: Request, status: number): string {
  return restErrorReason(request) ?? (status === 429 ? "RATE_LIMITED" : `HTTP_${status}`);
}

function newRecord(id: string): RequestRecord {
  return {
    id,
    start: performance.now(),
    log: undefined,
    operationType: "none",
    operationName: undefined,
    viewerId: null,
    errorCodes: undefined,
  };
}
