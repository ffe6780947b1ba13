import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration } from "../src/config.js";
import { startServerProcess } from "./helpers/process.js";

describe("configuration", () => {
  it("has working defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 4000,
      publicUrl: "http://127.0.0.1:4000",
      database: { kind: "pglite", dataDir: "./.data" },
      autoMigrate: true,
      graphiql: true,
      inviteTtlMs: 7 * 86_400_000,
      inviteRateLimit: 1000,
      orgCreateLimitPerDay: 10,
      rateLimit: { perMinute: 1200, redisUrl: null, keyPrefix: "invites-gateway" },
      trustProxy: false,
      limits: { subscriptionsPerCaller: 20 },
    });
    expect(loadConfig({ MAX_SUBSCRIPTIONS_PER_CALLER: "3" }).limits.subscriptionsPerCaller).toBe(3);
  });

  it("events: no webhooks by default; WEBHOOK_URL needs WEBHOOK_SECRET; short durations in ms", () => {
    expect(loadConfig({}).events).toEqual({
      redisUrl: null,
      channelPrefix: "invites-gateway",
      pollIntervalMs: 1_000,
      retentionMs: 7 * 86_400_000,
      subscriptionRecheckMs: 60_000,
      webhook: null,
      mail: null,
    });
    expect(
      loadConfig({ SMTP_URL: "smtp://mail.example.com:587", PUBLIC_URL: "https://app.example.com/" }).events.mail,
    ).toEqual({
      smtpUrl: "smtp://mail.example.com:587",
      from: "invites-gateway <no-reply@localhost>",
      publicUrl: "https://app.example.com",
      maxAttempts: 10,
      backoffMs: 30_000,
      maxBackoffMs: 3_600_000,
    });
    expect(() => loadConfig({ SMTP_URL: "http://mail.example.com" })).toThrow(/SMTP_URL/);
    const on = loadConfig({
      WEBHOOK_URL: "https://hooks.example.com/igw",
      WEBHOOK_SECRET: "0123456789abcdef",
      WEBHOOK_BACKOFF: "250ms",
      OUTBOX_POLL_INTERVAL: "100ms",
      REDIS_URL: "redis://127.0.0.1:6379",
    });
    expect(on.events).toMatchObject({ redisUrl: "redis://127.0.0.1:6379", pollIntervalMs: 100 });
    expect(on.events.webhook).toEqual({
      url: "https://hooks.example.com/igw",
      secret: "0123456789abcdef",
      maxAttempts: 10,
      backoffMs: 250,
      maxBackoffMs: 3_600_000,
      timeoutMs: 10_000,
    });
    expect(() => loadConfig({ WEBHOOK_URL: "https://hooks.example.com/igw" })).toThrow(
      "Invalid configuration: WEBHOOK_SECRET: required when WEBHOOK_URL is set",
    );
    expect(() => loadConfig({ WEBHOOK_URL: "https://h.example.com", WEBHOOK_SECRET: "short" })).toThrow(
      /WEBHOOK_SECRET: must be at least 16 characters/,
    );
    expect(() => loadConfig({ WEBHOOK_URL: "ftp://h.example.com", WEBHOOK_SECRET: "0123456789abcdef" })).toThrow(
      /WEBHOOK_URL/,
    );
    expect(() => loadConfig({ OUTBOX_POLL_INTERVAL: "0ms" })).toThrow(/OUTBOX_POLL_INTERVAL/);
    expect(loadConfig({ SUBSCRIPTION_RECHECK_INTERVAL: "250ms" }).events.subscriptionRecheckMs).toBe(250);
    expect(loadConfig({ SUBSCRIPTION_RECHECK_INTERVAL: "5m" }).events.subscriptionRecheckMs).toBe(300_000);
    expect(() => loadConfig({ SUBSCRIPTION_RECHECK_INTERVAL: "0s" })).toThrow(/SUBSCRIPTION_RECHECK_INTERVAL/);
    expect(() => loadConfig({ SUBSCRIPTION_RECHECK_INTERVAL: "often" })).toThrow(/SUBSCRIPTION_RECHECK_INTERVAL/);
  });

  it("ORG_CREATE_LIMIT_PER_DAY: organizations per user per day, 0 turns the limit off", () => {
    expect(loadConfig({ ORG_CREATE_LIMIT_PER_DAY: "3" }).orgCreateLimitPerDay).toBe(3);
    expect(loadConfig({ ORG_CREATE_LIMIT_PER_DAY: "0" }).orgCreateLimitPerDay).toBe(0);
    expect(loadConfig({ ORG_CREATE_LIMIT_PER_DAY: "" }).orgCreateLimitPerDay).toBe(10);
  });

  it("reads durations written 30m, 12h, 7d", () => {
    expect(parseDuration("30m")).toBe(1_800_000);
    expect(parseDuration("12h")).toBe(43_200_000);
    expect(parseDuration("7d")).toBe(604_800_000);
    expect(parseDuration("0d")).toBeNull();
    expect(parseDuration("7 days")).toBeNull();
    expect(parseDuration("-1h")).toBeNull();
  });

  it.each([
    [{ PORT: "abc" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL"],
    [{ INVITE_TTL: "forever" }, "INVITE_TTL"],
    [{ INVITE_RATE_LIMIT: "0" }, "INVITE_RATE_LIMIT"],
    [{ AUTO_MIGRATE: "maybe" }, "AUTO_MIGRATE"],
    [{ GRAPHIQL: "yes please" }, "GRAPHIQL"],
    [{ PUBLIC_URL: "not a url" }, "PUBLIC_URL"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ RATE_LIMIT_PER_MINUTE: "-1" }, "RATE_LIMIT_PER_MINUTE"],
    [{ ORG_CREATE_LIMIT_PER_DAY: "-1" }, "ORG_CREATE_LIMIT_PER_DAY"],
    [{ ORG_CREATE_LIMIT_PER_DAY: "ten" }, "ORG_CREATE_LIMIT_PER_DAY"],
    [{ ORG_CREATE_LIMIT_PER_DAY: "2.5" }, "ORG_CREATE_LIMIT_PER_DAY"],
    [{ REDIS_URL: "http://127.0.0.1:6379" }, "REDIS_URL"],
    [{ REDIS_KEY_PREFIX: "a b" }, "REDIS_KEY_PREFIX"],
    [{ TRUST_PROXY: "sometimes" }, "TRUST_PROXY"],
    [{ MAX_SUBSCRIPTIONS_PER_CALLER: "0" }, "MAX_SUBSCRIPTIONS_PER_CALLER"],
    [{ MAX_SUBSCRIPTIONS_PER_CALLER: "many" }, "MAX_SUBSCRIPTIONS_PER_CALLER"],
  ])("rejects %j naming %s in one line", (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain(name);
      expect(message).not.toContain("\n");
    }
  });

  it("stops the real server at start with a non-zero exit and one line naming the variable", async () => {
    await expect(startServerProcess({ INVITE_TTL: "soon" })).rejects.toThrow(
      /exited with 2 before listening:\nInvalid configuration: INVITE_TTL: .*\n$/,
    );
  });
});
