import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSX_CLI = require.resolve("tsx/cli");

/** The environment of a child process: ours, minus anything that would pick a database. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const key of [
    "DATABASE_URL",
    "DATA_DIR",
    "PORT",
    "HOST",
    "NODE_ENV",
    "VITEST",
    "VITEST_POOL_ID",
    "VITEST_WORKER_ID",
  ]) {
    delete base[key];
  }
  // Tests send many requests with one token: the request rate limit is on, but far away.
  return { ...base, LOG_LEVEL: "info", RATE_LIMIT_PER_MINUTE: "1000000", ...env };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run cli -- ...args` the way npm does (tsx src/cli.ts), with no stdin. */
export function runCliProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runEntryProcess("src/cli.ts", args, env);
}

/** `user create` with the CLI (as `npm run cli` runs it): the new user; throws with the CLI's stderr when it fails. */
export async function createUserWithCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ id: string; email: string; token: string }> {
  const created = await runCliProcess(["user", "create", ...args], env);
  if (created.code !== 0) throw new Error(`user create exited ${created.code}: ${created.stderr}`);
  return JSON.parse(created.stdout);
}

/** Runs `npm run db:migrate` the way npm does (tsx src/db/migrate-cli.ts), with no stdin. */
export function runMigrateProcess(env: Record<string, string>): Promise<CliResult> {
  return runEntryProcess("src/db/migrate-cli.ts", [], env);
}

/** Runs one of the package's tsx entries to completion, with no stdin. */
export function runEntryProcess(entry: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return runNodeProcess([TSX_CLI, entry, ...args], childEnv(env));
}

/**
 * Runs `node ...args` in the repository's root to completion, with no stdin and exactly `env` (no
 * vitest here: bench/recovery.ts uses it too).
 */
export function runNodeProcess(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Starts the server from its sources (tsx src/server.ts; `npm start` runs the same code compiled to
 * dist/) on a free port and waits for its URL. `direct`: `child` is the server's own process (node
 * --import tsx) rather than tsx's CLI, which runs the server in a child process of its own: a SIGKILL
 * must reach the server (the CLI cannot pass it on, and its child would live on).
 */
export function startServerProcess(
  env: Record<string, string>,
  { direct = false }: { direct?: boolean } = {},
): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(direct ? ["--import", "tsx"] : [TSX_CLI]), "src/server.ts"], {
      cwd: ROOT,
      env: childEnv({ HOST: "127.0.0.1", PORT: "0", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${out}`)), 90_000);
    const onData = (chunk: Buffer) => {
      out += chunk;
      const match = /"url":"(http:\/\/[^"]+)\/graphql"/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => out, exited });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
}

/** SIGTERM, then waits for the exit code (SIGKILL if it is still running after `graceMs`). */
export async function stopServerProcess(server: ServerProcess | undefined, graceMs = 20_000): Promise<number | null> {
  if (!server) return null;
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.child.exitCode;
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), graceMs);
  try {
    return await server.exited;
  } finally {
    clearTimeout(timer);
  }
}
