import { pino } from "pino";

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "invites-gateway" },
    // Never log credentials, whatever a log call passes in.
    redact: ["req.headers.authorization", "headers.authorization", "authorization", "token"],
  });
}
