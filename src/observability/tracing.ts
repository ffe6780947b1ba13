import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../config.js";

/**
 * OpenTelemetry tracing, on only when an OTEL_* variable asks for it (src/config.ts `tracing`).
 * The SDK (`@opentelemetry/sdk-node`) is loaded only then, and configured by the standard variables
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_SAMPLER, OTEL_PROPAGATORS,
 * OTEL_RESOURCE_ATTRIBUTES, ...); traces only: no OTel metrics or logs (Prometheus and pino do those).
 * Prisma's spans come from `@prisma/instrumentation`, which the client looks up on every query, so
 * the SDK may start after Prisma is imported. Off, nothing of this runs and the server has no
 * tracing plugin.
 */
export interface Tracing {
  /** Sends the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

export async function startTracing(config: Config["tracing"]): Promise<Tracing | null> {
  if (!config.enabled) return null;
  const [{ NodeSDK }, { PrismaInstrumentation }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@prisma/instrumentation"),
  ]);
  const sdk = new NodeSDK({
    serviceName: config.serviceName,
    // @prisma/instrumentation is built on an older @opentelemetry/instrumentation; the interface is the same.
    instrumentations: [new PrismaInstrumentation() as never],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

const HEADERS: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * The GraphQL side of tracing (only added when tracing is on):
 * - `POST /graphql` (SERVER): the whole HTTP request, child of an incoming W3C `traceparent`;
 *   `http.request.method`, `http.response.status_code`, `igw.request_id`;
 * - `query Viewer` (the operation's type and name; `graphql.operation` until known): parsing,
 *   validation, the context and execution; `graphql.operation.type` and `.name`;
 *   status ERROR with `graphql.error.codes` when top-level errors came back;
 * - Prisma's spans (`prisma:client:operation`, `prisma:client:db_query`, ...) below it, through the
 *   active context; the token lookup under the HTTP span (the request rate limit authenticates a
 *   bearer token before the operation starts; the context reuses its answer).
 * No document, variables or error messages go into spans (they may hold invite ids and link secrets).
 */
/**
 * The path as a span may hold it: `/graphql`; a REST twin path with its ids replaced by their names
 * (`/v1/orgs/{organizationId}/link-invites/{inviteId}`: a link's id is its secret); any other path
 * (a 404 may carry anything a client typed) is left out.
 */
export function spanPath(path: string): string | undefined {
  if (path === "/graphql") return path;
  if (path === "/v1" || path.startsWith("/v1/")) {
    return path
      .replace(/\/orgs\/[^/]+/, "/orgs/{organizationId}")
      .replace(/\/(invites|link-invites)\/[^/]+/, "/$1/{inviteId}");
  }
  return undefined;
}

export function useTracing(): Plugin {
  const tracer = trace.getTracer("invites-gateway");
  const httpSpans = new WeakMap<Request, Span>();
  const operationSpans = new WeakMap<Request, Span>();
  const endAfter = (span: Span, result: unknown) => {
    if (result && typeof (result as PromiseLike<unknown>).then === "function") {
      return (result as Promise<void>).finally(() => span.end());
    }
    span.end();
    return result as undefined;
  };
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const parent = propagation.extract(ROOT_CONTEXT, request.headers, HEADERS);
        const path = spanPath(new URL(request.url).pathname);
        // Named by route: `/graphql`; any other path Yoga answers (404s) gets the method alone.
        const span = tracer.startSpan(
          path === "/graphql" ? `${request.method} /graphql` : request.method,
          {
            kind: SpanKind.SERVER,
            attributes: { "http.request.method": request.method, ...(path ? { "url.path": path } : {}) },
          },
          parent,
        );
        httpSpans.set(request, span);
        return endAfter(
          span,
          context.with(trace.setSpan(parent, span), () => wrapped()),
        );
      },
      operation({ request }, wrapped) {
        // Ended when its result is processed (onResultProcess), which runs after this returns.
        const span = tracer.startSpan("graphql.operation", { kind: SpanKind.INTERNAL });
        operationSpans.set(request, span);
        return context.with(trace.setSpan(context.active(), span), () => wrapped());
      },
    },
    onValidate({ context, params }) {
      const request = (context as { request?: Request }).request;
      const span = request && operationSpans.get(request);
      if (!span) return;
      const operationName = (context as { params?: { operationName?: string } }).params?.operationName;
      const operation = getOperationAST(params.documentAST, operationName);
      if (!operation) return;
      const name = operation.name?.value;
      span.updateName(name ? `${operation.operation} ${name}` : operation.operation);
      span.setAttribute("graphql.operation.type", operation.operation);
      if (name) span.setAttribute("graphql.operation.name", name);
    },
    onResultProcess({ request, result }) {
      const span = operationSpans.get(request);
      if (!span) return;
      operationSpans.delete(request);
      const codes = new Set<string>();
      for (const one of Array.isArray(result) ? result : [result]) {
        for (const error of (one as { errors?: ReadonlyArray<{ extensions?: { code?: unknown } }> }).errors ?? []) {
          codes.add(typeof error.extensions?.code === "string" ? error.extensions.code : "UNCODED");
        }
      }
      endWithCodes(span, [...codes]);
    },
    onResponse({ request, response }) {
      operationSpans.get(request)?.end();
      const span = httpSpans.get(request);
      if (!span) return;
      span.setAttribute("http.response.status_code", response.status);
      const id = response.headers.get("x-request-id");
      if (id) span.setAttribute("igw.request_id", id);
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    },
  };
}

function endWithCodes(span: Span, codes: readonly string[]): void {
  if (codes.length > 0) {
    span.setAttribute("graphql.error.codes", codes);
    span.setStatus({ code: SpanStatusCode.ERROR, message: codes.join(",") });
  }
  span.end();
}

/**
 * The span of one operation over graphql-ws (src/websocket.ts), when tracing is on: no HTTP request
 * is under it, so it is a SERVER span of its own (a root: graphql-ws carries no `traceparent`), with
 * `igw.transport: "ws"`. Named and ended as the HTTP operation span (`query Viewer`, the type and
 * name attributes, ERROR with `graphql.error.codes`) by `endSocketOperationSpan`; what runs inside
 * `inSpan` (execution: Prisma's spans) is under it.
 */
export function startSocketOperationSpan(): Span {
  return trace
    .getTracer("invites-gateway")
    .startSpan("graphql.operation", { kind: SpanKind.SERVER, attributes: { "igw.transport": "ws" } }, ROOT_CONTEXT);
}

export function inSpan<T>(span: Span | undefined, run: () => T): T {
  return span ? context.with(trace.setSpan(ROOT_CONTEXT, span), run) : run();
}

export function endSocketOperationSpan(
  span: Span,
  operation: { type: string; name: string | undefined; requestId: string | undefined },
  codes: readonly string[],
): void {
  if (operation.type !== "none") {
    span.updateName(operation.name ? `${operation.type} ${operation.name}` : operation.type);
    span.setAttribute("graphql.operation.type", operation.type);
    if (operation.name) span.setAttribute("graphql.operation.name", operation.name);
  }
  if (operation.requestId) span.setAttribute("igw.request_id", operation.requestId);
  endWithCodes(span, codes);
}
