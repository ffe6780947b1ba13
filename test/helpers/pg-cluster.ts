import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of a test's own (Debian's postgresql-common: pg_createcluster,
 * pg_ctlcluster), on a free port with trust authentication, that the test may stop, restart and
 * drop without touching the shared cluster on 5432. Needs root and postgresql-common.
 */
export interface PgCluster {
  name: string;
  port: number;
  /** postgresql:// URL of `database` on this cluster. */
  url(database?: string): string;
  start(): Promise<void>;
  /** Fast shutdown: open connections are terminated (57P01), new ones refused. */
  stop(): Promise<void>;
  /** Stops and removes the cluster and its data. */
  drop(): Promise<void>;
}

/** Why this machine cannot run a private cluster; null when it can. */
export function pgClusterUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "needs root (pg_createcluster creates a cluster owned by postgres)";
  if (!existsSync("/usr/bin/pg_createcluster")) return "needs postgresql-common (pg_createcluster)";
  if (!pgVersion()) return "no PostgreSQL server in /usr/lib/postgresql";
  return null;
}

function pgVersion(): string | null {
  if (!existsSync("/usr/lib/postgresql")) return null;
  const versions = readdirSync("/usr/lib/postgresql")
    .filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ?? null;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Creates and starts a cluster named `igw_<prefix>_<pid>_<random>`. Drop it in afterAll. */
export async function createPgCluster(prefix: string): Promise<PgCluster> {
  const version = pgVersion() as string;
  const name = `igw_${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const port = await freePort();
  const ctl = (action: string, ...args: string[]) =>
    run("pg_ctlcluster", ["--skip-systemctl-redirect", version, name, action, ...args]);
  await run("pg_createcluster", [
    version,
    name,
    "--port",
    String(port),
    "--start-conf=manual",
    // Test data: no fsync (a fast shutdown still writes everything before it stops).
    "-o",
    "fsync=off",
    "--",
    "--auth=trust",
  ]);
  const cluster: PgCluster = {
    name,
    port,
    url: (database = "postgres") => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    start: async () => {
      await ctl("start");
    },
    stop: async () => {
      await ctl("stop", "-m", "fast");
    },
    drop: async () => {
      await run("pg_dropcluster", [version, name, "--stop"]);
    },
  };
  try {
    await cluster.start();
  } catch (error) {
    await cluster.drop().catch(() => {});
    throw error;
  }
  return cluster;
}
