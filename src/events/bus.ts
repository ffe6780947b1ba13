import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { createPubSub } from "graphql-yoga";
import type { Redis } from "ioredis";
import type { EventsConfig } from "../config.js";
import { loadRedis } from "../db/redis.js";
import type { OutboxPayload } from "../domain/outbox.js";
import type { Logger } from "../observability/logger.js";

/**
 * Where published outbox events meet organizationEvents subscribers: Yoga's PubSub, in this process
 * or, with REDIS_URL, through Redis pub/sub (`@graphql-yoga/redis-event-target`), so a subscriber on
 * any replica sees an event that any replica's relay published. Topic: `<REDIS_KEY_PREFIX>:
 * organizationEvents:<organizationId>` (one Redis channel per organization with subscribers). With
 * Redis unreachable nothing rejects unhandled, and a channel whose SUBSCRIBE failed is subscribed
 * again when the connection is ready again.
 */
export interface EventBus {
  /** Resolves once the event is handed on (with Redis: once Redis accepted the PUBLISH). */
  publish(event: OutboxPayload): Promise<void>;
  /** The organization's events from now on, until the caller stops or the bus closes. */
  subscribe(organizationId: string): AsyncIterableIterator<OutboxPayload>;
  /** Subscriptions open in this process. */
  subscriptions(): number;
  /** Ends every open subscription (their SSE responses complete): the first step of a shutdown. */
  endSubscriptions(): Promise<void>;
  close(): Promise<void>;
}

type Topics = Record<string, [organizationId: string, event: OutboxPayload]>;

export function createEventBus(config: Pick<EventsConfig, "redisUrl" | "channelPrefix">, logger: Logger): EventBus {
  const topic = `${config.channelPrefix}:organizationEvents`;
  const clients: Redis[] = [];
  /** The promise of the last PUBLISH the event target sent (it sends them without waiting). */
  let lastPublish: Promise<unknown> | null = null;
  let eventTarget: ReturnType<typeof createRedisEventTarget> | undefined;
  if (config.redisUrl) {
    let warned = false;
    const client = (role: string) => {
      const redis = new (loadRedis())(config.redisUrl as string, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
      redis.on("error", (error: Error) => {
        if (warned) return;
        warned = true;
        logger.warn({ err: error, role }, "Redis unreachable: organizationEvents wait for it (the outbox keeps them)");
      });
      redis.on("ready", () => {
        warned = false;
      });
      clients.push(redis);
      return redis;
    };
    const publishClient = client("publish");
    const subscribeClient = client("subscribe");
    // The event target calls publish(), subscribe() and unsubscribe() without awaiting them: keep
    // the PUBLISH's promise for `publish` below, and never leave a rejection unhandled (an unhandled
    // rejection ends the process: e.g. the last subscriber of an organization leaving while Redis is
    // down).
    const publish = publishClient.publish.bind(publishClient);
    publishClient.publish = ((channel: string, message: string) => {
      const sent = publish(channel, message);
      lastPublish = sent;
      sent.catch(() => {});
      return sent;
    }) as typeof publishClient.publish;
    // The channels the event target has listeners for, and those whose SUBSCRIBE (or UNSUBSCRIBE)
    // failed: the event target never asks again (it has recorded the channel), so they are sent
    // again when the connection is ready again, if still wanted (not wanted, for UNSUBSCRIBE).
    const wanted = new Set<string>();
    const toSubscribe = new Set<string>();
    const toUnsubscribe = new Set<string>();
    /**
     * Wraps SUBSCRIBE (`want`: true) or UNSUBSCRIBE: `wanted` follows the calls, and a channel whose
     * command failed goes to `retry` (out of `other`, the opposite command's) if the wish still holds.
     */
    const track = (command: "subscribe" | "unsubscribe", want: boolean, retry: Set<string>, other: Set<string>) => {
      const send = subscribeClient[command].bind(subscribeClient);
      subscribeClient[command] = ((...args: (string | string[])[]) => {
        const channels = args.flat();
        for (const channel of channels) {
          if (want) wanted.add(channel);
          else wanted.delete(channel);
          other.delete(channel);
        }
        const done = send(...channels);
        done.catch((error: unknown) => {
          logger.warn({ err: error, channels }, `Redis ${command.toUpperCase()} failed; retried once Redis is ready`);
          for (const channel of channels) if (wanted.has(channel) === want) retry.add(channel);
        });
        return done;
      }) as typeof subscribeClient.subscribe & typeof subscribeClient.unsubscribe;
    };
    track("subscribe", true, toSubscribe, toUnsubscribe);
    track("unsubscribe", false, toUnsubscribe, toSubscribe);
    subscribeClient.on("ready", () => {
      const again = [...toSubscribe];
      const gone = [...toUnsubscribe];
      toSubscribe.clear();
      toUnsubscribe.clear();
      if (again.length) subscribeClient.subscribe(...again);
      if (gone.length) subscribeClient.unsubscribe(...gone);
    });
    eventTarget = createRedisEventTarget({ publishClient, subscribeClient });
  }
  const pubSub = createPubSub<Topics>(eventTarget ? { eventTarget } : {});
  const open = new Set<AsyncIterableIterator<OutboxPayload>>();

  return {
    async publish(event) {
      lastPublish = null;
      pubSub.publish(topic, event.organizationId, event);
      const sent = lastPublish as Promise<unknown> | null;
      if (sent) await sent;
    },
    subscribe(organizationId) {
      const events = pubSub.subscribe(topic, organizationId) as AsyncIterableIterator<OutboxPayload>;
      open.add(events);
      const stop = events.return?.bind(events);
      events.return = (value?: unknown) => {
        open.delete(events);
        return stop ? stop(value) : Promise.resolve({ done: true, value: undefined });
      };
      return events;
    },
    subscriptions: () => open.size,
    async endSubscriptions() {
      await Promise.all([...open].map((events) => events.return?.()));
    },
    async close() {
      await this.endSubscriptions();
      // QUIT fails when Redis is unreachable: then just drop the connection. Never rejects.
      await Promise.allSettled(
        clients.map(async (redis) => {
          try {
            await redis.quit();
          } catch {
            redis.disconnect();
          }
        }),
      );
    },
  };
}
