import { chmodSync, existsSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { join, resolve } from "node:path";
import type { PrismaClient } from "./generated/prisma/client.js";
import type { Logger } from "./logger.js";
import { executeCommand, exitCodeFor, UsageError } from "./operator.js";

/**
 * PGlite belongs to one process. While the server owns the embedded database, operator commands
 * (`npm run cli -- ...`) reach it through a Unix socket in DATA_DIR, readable by the same OS user
 * only, and run inside the server process on its database connection.
 */
export function operatorSocketPath(dataDir: string): string {
  return join(resolve(dataDir), "cli.sock");
}

type Reply = { ok: true; result: object } | { ok: false; exitCode: 1 | 2; message: string };

export async function serveOperatorSocket(
  dataDir: string,
  db: PrismaClient,
  logger: Logger,
): Promise<() => Promise<void>> {
  const path = operatorSocketPath(dataDir);
  // We hold the data directory's lock: a socket file left here is from a process that died.
  rmSync(path, { force: true });
  const server: Server = createServer((socket) => {
    let input = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      input += chunk;
      if (input.length > 64_000) socket.destroy();
      if (!input.includes("\n")) return;
      const reply = (r: Reply) => socket.end(`${JSON.stringify(r)}\n`);
      let argv: unknown;
      try {
        argv = (JSON.parse(input.slice(0, input.indexOf("\n"))) as { argv?: unknown }).argv;
      } catch {
        return reply({ ok: false, exitCode: 2, message: "malformed request" });
      }
      if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string")) {
        return reply({ ok: false, exitCode: 2, message: "malformed request" });
      }
      executeCommand(db, argv).then(
        (result) => reply({ ok: true, result }),
        (error: unknown) => {
          const exitCode = exitCodeFor(error);
          if (exitCode === 1) logger.error({ err: error }, "operator command failed");
          reply({ ok: false, exitCode, message: error instanceof Error ? error.message : String(error) });
        },
      );
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(path, () => done());
  });
  chmodSync(path, 0o600);
  return () =>
    new Promise<void>((done) => {
      server.close(() => done());
      rmSync(path, { force: true });
    });
}

export class OperatorCommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/** Sends argv to the server that owns `dataDir`; null when no server listens there. */
export function sendToOperatorSocket(dataDir: string, argv: string[]): Promise<object | null> {
  const path = operatorSocketPath(dataDir);
  if (!existsSync(path)) return Promise.resolve(null);
  return new Promise((done, fail) => {
    const socket = createConnection(path);
    let output = "";
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify({ argv })}\n`));
    socket.on("data", (chunk) => {
      output += chunk;
    });
    socket.on("error", (error: NodeJS.ErrnoException) =>
      error.code === "ECONNREFUSED" || error.code === "ENOENT" ? done(null) : fail(error),
    );
    socket.on("end", () => {
      try {
        const reply = JSON.parse(output) as Reply;
        if (reply.ok) return done(reply.result);
        fail(reply.exitCode === 2 ? new UsageError(reply.message) : new OperatorCommandError(reply.message, 1));
      } catch {
        fail(new Error("The running server gave no answer"));
      }
    });
  });
}
