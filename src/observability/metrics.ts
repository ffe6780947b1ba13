import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The pg pool's counts (src/db/client.ts), read when /metrics is scraped. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** What one GraphQL request (src/http/plugins/observability.ts) or graphql-ws operation (src/http/websocket.ts) contributes. */
export interface RequestSample {
  operationType: string;
  operationName: string | undefined;
  outcome: string;
  seconds: number;
  /** `ws` for an operation over graphql-ws: its series carry `transport="ws"`; HTTP's have no such label. */
  transport?: "ws" | undefined;
}

export interface Metrics {
  registry: Registry;
  observe(sample: RequestSample): void;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  contentType: string;
}

/** Latency buckets in seconds: a cached read takes about a millisecond, a large invite call a few hundred. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Node's runtime metrics (`collectDefaultMetrics`: CPU, memory, event-loop lag, GC, ...), collected
 * once per process into a registry of their own, whose metrics every Metrics registry also holds.
 * They describe the process, not one server; and prom-client gives no way to stop them: its GC
 * metric is a PerformanceObserver that stays registered for good, holding its histogram and through
 * it the registry it was made for. One set per createMetrics kept every closed server's registry
 * alive, with its pool gauges and the database pool they read, and added an observer to every GC.
 */
let runtimeRegistry: Registry | undefined;

function runtimeMetrics(): Registry {
  if (!runtimeRegistry) {
    runtimeRegistry = new Registry();
    collectDefaultMetrics({ register: runtimeRegistry });
  }
  return runtimeRegistry;
}

/**
 * The service's own registry (not prom-client's global one: tests start several servers in one
 * process): GraphQL requests by operation and outcome, their latency, the PostgreSQL pool, and
 * Node's runtime metrics (shared by every registry of the process: runtimeMetrics above).
 *
 * Label values are bounded: `operation_name` is one of the first `maxOperationNames` distinct
 * names seen (then `other`; an operation without a name is `anonymous`; a request that never reached
 * execution is `none`), `operation_type` is query / mutation / subscription / `none`, and `outcome`
 * is `ok` or one error code of a fixed list (`error` for any other). Operations over graphql-ws are
 * counted in the same families with `transport="ws"` (src/websocket.ts); HTTP requests have no
 * `transport` label.
 */
export function createMetrics(options: { maxOperationNames: number; pool?: () => PoolStats }): Metrics {
  const registry = new Registry();
  const runtime = runtimeMetrics();
  for (const { name } of runtime.getMetricsAsArray()) {
    const metric = runtime.getSingleMetric(name);
    if (metric) registry.registerMetric(metric);
  }
  const requests = new Counter({
    name: "graphql_requests_total",
    help: "GraphQL requests by operation and outcome (ok, or the first error's code)",
    labelNames: ["operation_type", "operation_name", "outcome", "transport"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "graphql_request_duration_seconds",
    help: "Time from the request's arrival to its response, by operation",
    labelNames: ["operation_type", "operation_name", "transport"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const pool = options.pool;
  if (pool) {
    // Read at scrape time: nothing per request.
    const gauge = (name: string, help: string, read: (s: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read(pool()));
        },
      });
    gauge("db_pool_connections_total", "PostgreSQL connections open in the pool", (s) => s.total);
    gauge("db_pool_connections_idle", "PostgreSQL connections open and idle", (s) => s.idle);
    gauge("db_pool_requests_waiting", "Queries waiting for a PostgreSQL connection", (s) => s.waiting);
  }
  const names = new Set<string>();
  const boundedName = (name: string | undefined, type: string): string => {
    if (type === "none") return "none";
    if (!name) return "anonymous";
    if (names.has(name)) return name;
    if (names.size >= options.maxOperationNames) return "other";
    names.add(name);
    return name;
  };
  return {
    registry,
    observe({ operationType, operationName, outcome, seconds, transport }) {
      const operation_name = boundedName(operationName, operationType);
      // HTTP's series keep the labels they always had; a socket's add `transport="ws"`.
      const via = transport ? { transport } : {};
      requests.inc({ operation_type: operationType, operation_name, outcome: boundedOutcome(outcome), ...via });
      latency.observe({ operation_type: operationType, operation_name, ...via }, seconds);
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/** The codes this service answers with (src/graphql/errors.ts, Yoga, graphql-armor); anything else is `error`. */
const KNOWN_OUTCOMES = new Set([
  "ok",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "RATE_LIMITED",
  "TOO_MANY_SUBSCRIPTIONS",
  "SERVICE_UNAVAILABLE",
  "TIMEOUT",
  "INTERNAL_SERVER_ERROR",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
]);

function boundedOutcome(outcome: string): string {
  return KNOWN_OUTCOMES.has(outcome) ? outcome : "error";
}
