import { chmodSync, existsSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join, resolve } from "node:path";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { executeCommand, exitCodeFor, UsageError } from "./commands.js";

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
  const connections = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setTimeout(30_000, () => socket.destroy());
    socket.setEncoding("utf8");
    let input = "";
    const onData = (chunk: string) => {
      input += chunk;
      if (input.length > 64_000) return void socket.destroy();
      const end = input.indexOf("\n");
      if (end < 0) return;
      socket.off("data", onData); // one command per connection
      const reply = (r: Reply) => socket.end(`${JSON.stringify(r)}\n`);
      const argv = parseRequest(input.slice(0, end));
      if (!argv) return reply({ ok: false, exitCode: 2, message: "malformed request" });
      executeCommand(db, argv).then(
        (result) => reply({ ok: true, result }),
        (error: unknown) => {
          const exitCode = exitCodeFor(error);
          if (exitCode === 1) logger.error({ err: error }, "operator command failed");
          reply({ ok: false, exitCode, message: error instanceof Error ? error.message : String(error) });
        },
      );
    };
    socket.on("data", onData);
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(path, () => done());
  });
  chmodSync(path, 0o600);
  return () =>
    new Promise<void>((done) => {
      server.close(() => done());
      for (const socket of connections) socket.destroy();
      rmSync(path, { force: true });
    });
}

function parseRequest(line: string): string[] | null {
  try {
    const argv = (JSON.parse(line) as { argv?: unknown }).argv;
    return Array.isArray(argv) && argv.every((a) => typeof a === "string") ? argv : null;
  } catch {
    return null;
  }
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
    socket.setTimeout(60_000, () => {
      socket.destroy();
      fail(new Error(`The server that owns ${dataDir} did not answer within 60 s`));
    });
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
