import { createPublicKey } from "node:crypto";
import { z } from "zod";

/** `30s`, `30m`, `12h`, `7d` -> milliseconds. Returns null for anything else. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  const ms = Number(match[1]) * unit;
  return ms > 0 ? ms : null;
}

function isPublicKeyPem(pem: string): boolean {
  if (!pem.includes("-----BEGIN PUBLIC KEY-----")) return false;
  try {
    return createPublicKey(pem).type === "public";
  } catch {
    return false;
  }
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null) {
        ctx.addIssue({ code: "custom", message: `"${value}" is not a duration like 30m, 12h or 7d` });
        return z.NEVER;
      }
      return ms;
    });

/** Like `duration`, and `250ms` too: the outbox's poll interval and webhook backoff may be short. */
const shortDuration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = /^\s*(\d{1,9})ms\s*$/.exec(value);
      const parsed = ms ? Number(ms[1]) || null : parseDuration(value);
      if (parsed === null) {
        ctx.addIssue({ code: "custom", message: `"${value}" is not a duration like 250ms, 5s or 1h` });
        return z.NEVER;
      }
      return parsed;
    });

const bool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0"], { message: "must be true or false" })
    .optional()
    .transform((v) => (v === undefined ? fallback : v === "true" || v === "1"));

const int = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

const EnvSchema = z.object({
  NODE_ENV: z.string().default("production"),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: int(4000, 0, 65_535),
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
    .optional(),
  DATA_DIR: z.string().min(1).default("./.data"),
  AUTO_MIGRATE: bool(true),
  GRAPHIQL: bool(true),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  INVITE_TTL: duration("7d"),
  INVITE_RATE_LIMIT: int(1000, 1, 10_000_000),
  // Organizations one user may create with createOrganization per UTC day; "0" turns the limit off.
  ORG_CREATE_LIMIT_PER_DAY: int(10, 0, 1_000_000),
  DB_POOL_SIZE: int(10, 1, 500),
  // How long an accepted API token is remembered (src/auth/tokens.ts); "0" turns the cache off.
  AUTH_CACHE_TTL: z
    .string()
    .default("5s")
    .transform((value, ctx) => {
      if (value.trim() === "0") return 0;
      const ms = parseDuration(value);
      if (ms === null || ms > 60_000) {
        ctx.addIssue({ code: "custom", message: `"${value}" is not 0 or a duration up to 60s like 5s` });
        return z.NEVER;
      }
      return ms;
    }),
  DB_CONNECT_TIMEOUT: duration("5s"),
  DB_STATEMENT_TIMEOUT: duration("15s"),
  // Named (prepared) statements on PostgreSQL; "false" for a pooler that cannot keep them (PgBouncer
  // in transaction mode before 1.21, or without max_prepared_statements).
  DB_PREPARED_STATEMENTS: bool(true),
  SHUTDOWN_GRACE: duration("10s"),
  INTROSPECTION: bool(true),
  CORS_ORIGINS: z
    .string()
    .transform((list) =>
      list
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ protocol: /^https?$/, message: "must be a comma-separated list of origins" })))
    .optional(),
  MAX_DEPTH: int(12, 1, 1000),
  MAX_ALIASES: int(30, 0, 10_000),
  MAX_TOKENS: int(10_000, 100, 1_000_000),
  MAX_DIRECTIVES: int(50, 0, 10_000),
  MAX_COST: int(50_000, 100, 100_000_000),
  MAX_ENTITY_REPRESENTATIONS: int(1000, 1, 100_000),
  MAX_BODY_BYTES: int(1_000_000, 1_000, 100_000_000),
  RATE_LIMIT_PER_MINUTE: int(1200, 0, 10_000_000),
  REDIS_URL: z.url({ protocol: /^rediss?$/, message: "must be a redis:// or rediss:// URL" }).optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[\w.:-]{1,64}$/, "letters, digits and . _ : - only")
    .default("invites-gateway"),
  TRUST_PROXY: bool(false),
  // Trusted documents (src/http/plugins/persisted-documents.ts): comma-separated manifest paths, and the mode.
  PERSISTED_DOCUMENTS: z.string().optional(),
  PERSISTED_DOCUMENTS_MODE: z.enum(["allow", "enforce"], { message: "must be allow or enforce" }).optional(),
  // A federation gateway sends it in `x-gateway-secret`: its free-text operations run in enforce mode.
  GATEWAY_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  APQ_TTL: duration("24h"),
  APQ_MAX_ENTRIES: int(1000, 1, 1_000_000),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  JWT_PUBLIC_KEY: z
    .string()
    .transform((pem) => pem.replace(/\\n/g, "\n"))
    .refine(isPublicKeyPem, "must be an SPKI PEM public key (-----BEGIN PUBLIC KEY-----)")
    .optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_JWKS_COOLDOWN: duration("30s"),
  BENCH_COUNT_SQL: bool(false),
  OUTBOX_POLL_INTERVAL: shortDuration("1s"),
  OUTBOX_RETENTION: duration("7d"),
  SUBSCRIPTION_RECHECK_INTERVAL: shortDuration("60s"),
  MAX_SUBSCRIPTIONS_PER_CALLER: int(20, 1, 100_000),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: int(20, 1, 100_000),
  WS_MAX_CONNECTIONS_PER_CALLER: int(10, 1, 100_000),
  WEBHOOK_URL: z.url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" }).optional(),
  WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  WEBHOOK_MAX_ATTEMPTS: int(10, 1, 1000),
  WEBHOOK_BACKOFF: shortDuration("5s"),
  WEBHOOK_MAX_BACKOFF: shortDuration("1h"),
  WEBHOOK_TIMEOUT: shortDuration("10s"),
  SMTP_URL: z.url({ protocol: /^smtps?$/, message: "must be an smtp:// or smtps:// URL" }).optional(),
  SMTP_FROM: z.string().min(3).default("invites-gateway <no-reply@localhost>"),
  EMAIL_MAX_ATTEMPTS: int(10, 1, 1000),
  EMAIL_BACKOFF: shortDuration("30s"),
  EMAIL_MAX_BACKOFF: shortDuration("1h"),
  // GET /metrics (Prometheus text format): on by default; METRICS_TOKEN makes it ask for a bearer token.
  METRICS_ENABLED: bool(true),
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  METRICS_MAX_OPERATION_NAMES: int(100, 1, 10_000),
  // OpenTelemetry: the SDK (@opentelemetry/sdk-node) reads the OTEL_* variables itself; they are
  // checked here so that a typo stops the start like any other setting, and they decide whether
  // tracing is on at all.
  OTEL_SDK_DISABLED: bool(false),
  OTEL_TRACES_EXPORTER: z
    .string()
    .regex(/^\s*(otlp|console|none)(\s*,\s*(otlp|console|none))*\s*$/, "must be a list of otlp, console, none")
    .optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(["grpc", "http/protobuf", "http/json"]).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.enum(["grpc", "http/protobuf", "http/json"]).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
});

export type Env = z.input<typeof EnvSchema>;

export interface Config {
  nodeEnv: string;
  host: string;
  port: number;
  publicUrl: string;
  database: { kind: "postgres"; url: string } | { kind: "pglite"; dataDir: string };
  autoMigrate: boolean;
  graphiql: boolean;
  logLevel: string;
  inviteTtlMs: number;
  inviteRateLimit: number;
  /** Organizations a user may create per UTC day with createOrganization (not the CLI); 0: no limit. */
  orgCreateLimitPerDay: number;
  dbPoolSize: number;
  /** How long an accepted API token is cached, in ms; 0: no cache. */
  authCacheTtlMs: number;
  dbConnectTimeoutMs: number;
  dbStatementTimeoutMs: number;
  /** PostgreSQL: statements with parameters are prepared once per connection (src/db/client.ts). */
  dbPreparedStatements: boolean;
  shutdownGraceMs: number;
  introspection: boolean;
  /** Origins allowed by CORS; empty: no cross-origin access. */
  corsOrigins: string[];
  limits: {
    depth: number;
    aliases: number;
    tokens: number;
    directives: number;
    cost: number;
    entityRepresentations: number;
    bodyBytes: number;
    /** Subscriptions one caller (user) may hold open at once, per process. */
    subscriptionsPerCaller: number;
    /** Operations (graphql-ws) one WebSocket connection may run at once. */
    wsSubscriptionsPerConnection: number;
    /** WebSocket connections one caller (user; anonymous: its address) may hold open at once, per process. */
    wsConnectionsPerCaller: number;
  };
  /** Requests a minute per caller (0: off), counted in Redis when `redisUrl` is set. */
  rateLimit: { perMinute: number; redisUrl: string | null; keyPrefix: string };
  /** Behind a proxy: the client address is the last one it appended to X-Forwarded-For. */
  trustProxy: boolean;
  /** JWT sign-in from an identity provider; null when off (API tokens only). */
  jwt: JwtConfig | null;
  /** BENCH_COUNT_SQL=1 (benchmarks only): GET /debug/sql-count answers the SQL statements sent so far. */
  benchCountSql: boolean;
  /** GET /metrics: off, open, or behind a bearer token; distinct operation names kept as labels. */
  metrics: { enabled: boolean; token: string | null; maxOperationNames: number };
  /**
   * OpenTelemetry tracing (src/observability/tracing.ts), on when an OTEL_* variable asks for it. The SDK reads
   * the variables itself; `serviceName` is the default when neither OTEL_SERVICE_NAME nor
   * OTEL_RESOURCE_ATTRIBUTES names the service.
   */
  tracing: { enabled: boolean; serviceName: string | undefined };
  /** The outbox (src/events/): subscriptions across replicas through Redis, and webhooks. */
  events: EventsConfig;
  /** Trusted documents and APQ (src/http/plugins/persisted-documents.ts). */
  persistedDocuments: PersistedDocumentsConfig;
}

export interface PersistedDocumentsConfig {
  /** Manifest files (PERSISTED_DOCUMENTS); empty: off. */
  paths: string[];
  /** off: no manifest; allow: listed ids and free text; enforce: listed ids only. */
  mode: "off" | "allow" | "enforce";
  /** GATEWAY_SECRET: a request with it in `x-gateway-secret` may send free text in enforce mode. */
  gatewaySecret: string | null;
  /** APQ: how long a registered hash is kept, and how many at most (in memory, or in Redis). */
  apqTtlMs: number;
  apqMaxEntries: number;
}

export interface EventsConfig {
  /** Redis pub/sub for organizationEvents across replicas; null: in this process only. */
  redisUrl: string | null;
  /** Prefix of the Redis channels (REDIS_KEY_PREFIX). */
  channelPrefix: string;
  /** How often the relay and the webhook dispatcher look for work they were not woken for. */
  pollIntervalMs: number;
  /** Outbox rows are deleted this long after they were written, delivered or not (src/events/prune.ts). */
  retentionMs: number;
  /**
   * How often an organizationEvents stream re-checks its subscriber's access when no event came to
   * check it (an event's own check pushes the next one back).
   */
  subscriptionRecheckMs: number;
  /** Webhook delivery (WEBHOOK_URL); null: off. */
  webhook: WebhookConfig | null;
  /** Invite emails (SMTP_URL); null: off. */
  mail: MailConfig | null;
}

export interface MailConfig {
  smtpUrl: string;
  from: string;
  /** Base of the accept link in the email (PUBLIC_URL). */
  publicUrl: string;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

export interface WebhookConfig {
  url: string;
  /** HMAC-SHA256 key of the x-igw-signature header. */
  secret: string;
  maxAttempts: number;
  /** The first retry's delay; each next one doubles, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
}

export interface JwtConfig {
  keys: { kind: "jwks"; url: string; cooldownMs: number } | { kind: "pem"; pem: string };
  issuer: string;
  audience: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates the environment. Throws ConfigError whose message is one line naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, as shells and .env files often leave them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? "environment");
    throw new ConfigError(`Invalid configuration: ${name}: ${issue?.message ?? "invalid"}`);
  }
  const e = parsed.data;
  const jwt = jwtConfig(e);
  const hostForUrl = e.HOST.includes(":") ? `[${e.HOST}]` : e.HOST;
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    publicUrl: (e.PUBLIC_URL ?? `http://${hostForUrl}:${e.PORT}`).replace(/\/+$/, ""),
    database: e.DATABASE_URL ? { kind: "postgres", url: e.DATABASE_URL } : { kind: "pglite", dataDir: e.DATA_DIR },
    autoMigrate: e.AUTO_MIGRATE,
    graphiql: e.GRAPHIQL,
    logLevel: e.LOG_LEVEL,
    inviteTtlMs: e.INVITE_TTL,
    inviteRateLimit: e.INVITE_RATE_LIMIT,
    orgCreateLimitPerDay: e.ORG_CREATE_LIMIT_PER_DAY,
    dbPoolSize: e.DB_POOL_SIZE,
    authCacheTtlMs: e.AUTH_CACHE_TTL,
    dbConnectTimeoutMs: e.DB_CONNECT_TIMEOUT,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT,
    dbPreparedStatements: e.DB_PREPARED_STATEMENTS,
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    jwt,
    rateLimit: { perMinute: e.RATE_LIMIT_PER_MINUTE, redisUrl: e.REDIS_URL ?? null, keyPrefix: e.REDIS_KEY_PREFIX },
    trustProxy: e.TRUST_PROXY,
    introspection: e.INTROSPECTION,
    corsOrigins: (e.CORS_ORIGINS ?? []).map((o) => new URL(o).origin),
    limits: {
      depth: e.MAX_DEPTH,
      aliases: e.MAX_ALIASES,
      tokens: e.MAX_TOKENS,
      directives: e.MAX_DIRECTIVES,
      cost: e.MAX_COST,
      entityRepresentations: e.MAX_ENTITY_REPRESENTATIONS,
      bodyBytes: e.MAX_BODY_BYTES,
      subscriptionsPerCaller: e.MAX_SUBSCRIPTIONS_PER_CALLER,
      wsSubscriptionsPerConnection: e.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      wsConnectionsPerCaller: e.WS_MAX_CONNECTIONS_PER_CALLER,
    },
    benchCountSql: e.BENCH_COUNT_SQL,
    metrics: {
      enabled: e.METRICS_ENABLED,
      token: e.METRICS_TOKEN ?? null,
      maxOperationNames: e.METRICS_MAX_OPERATION_NAMES,
    },
    tracing: tracingConfig(e),
    persistedDocuments: persistedDocumentsConfig(e),
    events: {
      redisUrl: e.REDIS_URL ?? null,
      channelPrefix: e.REDIS_KEY_PREFIX,
      pollIntervalMs: e.OUTBOX_POLL_INTERVAL,
      retentionMs: e.OUTBOX_RETENTION,
      subscriptionRecheckMs: e.SUBSCRIPTION_RECHECK_INTERVAL,
      webhook: webhookConfig(e),
      mail: e.SMTP_URL
        ? {
            smtpUrl: e.SMTP_URL,
            from: e.SMTP_FROM,
            publicUrl: (e.PUBLIC_URL ?? `http://${hostForUrl}:${e.PORT}`).replace(/\/+$/, ""),
            maxAttempts: e.EMAIL_MAX_ATTEMPTS,
            backoffMs: e.EMAIL_BACKOFF,
            maxBackoffMs: Math.max(e.EMAIL_MAX_BACKOFF, e.EMAIL_BACKOFF),
          }
        : null,
    },
  };
}

/** PERSISTED_DOCUMENTS: paths, comma-separated; the mode defaults to allow with a manifest, off without. */
function persistedDocumentsConfig(e: z.output<typeof EnvSchema>): PersistedDocumentsConfig {
  const paths = (e.PERSISTED_DOCUMENTS ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  if (paths.length === 0 && e.PERSISTED_DOCUMENTS_MODE) {
    throw new ConfigError("Invalid configuration: PERSISTED_DOCUMENTS_MODE: set PERSISTED_DOCUMENTS too");
  }
  return {
    paths,
    mode: paths.length === 0 ? "off" : (e.PERSISTED_DOCUMENTS_MODE ?? "allow"),
    gatewaySecret: e.GATEWAY_SECRET ?? null,
    apqTtlMs: e.APQ_TTL,
    apqMaxEntries: e.APQ_MAX_ENTRIES,
  };
}

/** Webhooks are on when WEBHOOK_URL is set; they are always signed, so WEBHOOK_SECRET is required then. */
function webhookConfig(e: z.output<typeof EnvSchema>): WebhookConfig | null {
  if (!e.WEBHOOK_URL) {
    if (e.WEBHOOK_SECRET) throw new ConfigError("Invalid configuration: WEBHOOK_SECRET: set WEBHOOK_URL too");
    return null;
  }
  if (!e.WEBHOOK_SECRET) {
    throw new ConfigError("Invalid configuration: WEBHOOK_SECRET: required when WEBHOOK_URL is set");
  }
  return {
    url: e.WEBHOOK_URL,
    secret: e.WEBHOOK_SECRET,
    maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
    backoffMs: e.WEBHOOK_BACKOFF,
    maxBackoffMs: Math.max(e.WEBHOOK_MAX_BACKOFF, e.WEBHOOK_BACKOFF),
    timeoutMs: e.WEBHOOK_TIMEOUT,
  };
}

/**
 * Tracing is on when an exporter, an endpoint or a service name is set (the SDK's own defaults fill
 * in the rest: OTLP over http/protobuf to http://localhost:4318); off when none is, when
 * OTEL_SDK_DISABLED=true, or when OTEL_TRACES_EXPORTER=none.
 */
function tracingConfig(e: z.output<typeof EnvSchema>): Config["tracing"] {
  const exporters = (e.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const asked =
    exporters.length > 0 ||
    Boolean(e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || e.OTEL_SERVICE_NAME);
  const enabled = asked && !e.OTEL_SDK_DISABLED && !(exporters.length > 0 && exporters.every((x) => x === "none"));
  const named = Boolean(e.OTEL_SERVICE_NAME) || /(^|,)\s*service\.name\s*=/.test(e.OTEL_RESOURCE_ATTRIBUTES ?? "");
  return { enabled, serviceName: named ? undefined : "invites-gateway" };
}

/** JWT mode is on when a key source is set; it then needs both the issuer and the audience. */
function jwtConfig(e: z.output<typeof EnvSchema>): JwtConfig | null {
  if (!e.JWT_JWKS_URL && !e.JWT_PUBLIC_KEY) {
    for (const name of ["JWT_ISSUER", "JWT_AUDIENCE"] as const) {
      if (e[name]) throw new ConfigError(`Invalid configuration: ${name}: set JWT_JWKS_URL or JWT_PUBLIC_KEY too`);
    }
    return null;
  }
  if (e.JWT_JWKS_URL && e.JWT_PUBLIC_KEY) {
    throw new ConfigError("Invalid configuration: JWT_PUBLIC_KEY: set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both");
  }
  for (const name of ["JWT_ISSUER", "JWT_AUDIENCE"] as const) {
    if (!e[name]) throw new ConfigError(`Invalid configuration: ${name}: required when JWT sign-in is on`);
  }
  return {
    keys: e.JWT_JWKS_URL
      ? { kind: "jwks", url: e.JWT_JWKS_URL, cooldownMs: e.JWT_JWKS_COOLDOWN }
      : { kind: "pem", pem: e.JWT_PUBLIC_KEY as string },
    issuer: e.JWT_ISSUER as string,
    audience: e.JWT_AUDIENCE as string,
  };
}
