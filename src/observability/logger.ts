import { randomUUID } from "node:crypto";
import { trace } from "@opentelemetry/api";
import { pino } from "pino";

export type Logger = pino.Logger;

/**
 * JSON lines on stdout (or `destination`, for tests). Each GraphQL request adds one line with its
 * `reqId` (src/http/plugins/observability.ts; `ctx.log` is a child logger carrying it). With tracing on
 * (`traceContext`), every line written while a span is active also carries `traceId` and `spanId`,
 * Yoga's own lines (an unexpected error) included.
 */
export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  options: { traceContext?: boolean } = {},
): Logger {
  const pinoOptions: pino.LoggerOptions = {
    level,
    base: { service: "invites-gateway" },
    // Never log credentials, whatever a log call passes in.
    redact: ["req.headers.authorization", "headers.authorization", "authorization", "token"],
    ...(options.traceContext ? { mixin: traceFields } : {}),
  };
  return destination ? pino(pinoOptions, destination) : pino(pinoOptions);
}

function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** An incoming `x-request-id` is kept when it is 1-128 visible ASCII characters; else a new UUID. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdFrom(header: string | string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}
