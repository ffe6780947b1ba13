import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";
import { type Events, startEvents } from "../../src/events/service.js";
import { createGraphQLHandler } from "../../src/http/yoga.js";
import { createLogger, type Logger } from "../../src/observability/logger.js";
import type { TestApp } from "./app.js";

/** The events service (outbox relay, bus, webhooks, mail) over the app's database and configuration. */
export function startAppEvents(a: TestApp, logger: Logger = createLogger("silent")): Events {
  return startEvents({ db: a.db, config: a.testDb.config, logger });
}

/** Registers beforeAll/afterAll that run the events service over `app` while the describe block runs. */
export function useAppEvents(app: { current: TestApp }): void {
  let events: Events | undefined;
  beforeAll(() => {
    events = startAppEvents(app.current);
  });
  afterAll(async () => {
    await events?.close();
  });
}

export interface ServedApp {
  events: Events;
  /** http://127.0.0.1:<port>, no trailing slash. */
  url: string;
  /** Ends the open subscriptions, the socket and the events service. */
  close(): Promise<void>;
}

/** The app's Yoga with its own events (outbox relay and bus) on a real socket on 127.0.0.1. */
export async function serveWithEvents(a: TestApp, logger: Logger = createLogger("silent")): Promise<ServedApp> {
  const events = startAppEvents(a, logger);
  const yoga = createGraphQLHandler({ db: a.db, config: a.testDb.config, logger, events: events.bus });
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    events,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await events.bus.endSubscriptions();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await events.close();
    },
  };
}
