import { randomUUID } from "node:crypto";
import { pino } from "pino";

export type Logger = pino.Logger;

/**
 * JSON lines on stdout (or `destination`, for tests). Each GraphQL request adds one line (see
 * src/observability.ts) and every line of a request carries its `reqId`.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "invites-gateway" },
    // Never log credentials, whatever a log call passes in.
    redact: ["req.headers.authorization", "headers.authorization", "authorization", "token"],
  };
  return destination ? pino(options, destination) : pino(options);
}

/** An incoming `x-request-id` is kept when it is 1-128 visible ASCII characters; else a new UUID. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdFrom(header: string | string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}
