/**
 * `npx tsx bench/recovery.ts`: how long the embedded database (PGlite on DATA_DIR) takes to reopen
 * after the server was killed with SIGKILL in the middle of a burst of writes, and whether every
 * acknowledged write survived.
 *
 * One run: a fresh DATA_DIR (`node dist/cli.js user create` creates it), `node dist/server.js`, one
 * organization, then `concurrency` clients sending `inviteUsersToOrganization` (`emailsPerWrite` new
 * emails each) as fast as they can; after `burstMs`, SIGKILL while requests are in flight. Then `node dist/server.js`
 * again: the time from spawn to the first `GET /ready` 200 (and to the log lines of the steps before
 * it), the acknowledged invites read back, SIGTERM, and a normal restart timed the same way.
 *
 * `measureRecovery()` is the core (a later bench can call it); run as a script it does `RECOVERY_RUNS`
 * runs (default 5) and prints min/median/max. Needs `npm run build` first (it runs dist/).
 *
 * Environment (all optional): RECOVERY_RUNS, RECOVERY_BURST_MS (default 30000),
 * RECOVERY_CONCURRENCY (default 8), RECOVERY_EMAILS_PER_WRITE (default 100: such a burst writes
 * about 250 MB of WAL in 30 s), RECOVERY_NODE_FLAGS (extra node flags for the timed restart, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"), RECOVERY_KEEP=1 (keep the data directories and print
 * where), RECOVERY_COPY_AFTER_KILL (a path: copy the data directory as the kill left it there, to
 * profile its reopening; with RECOVERY_RUNS=1), RECOVERY_DIST (another build's dist/ to run, e.g. a
 * copy of dist/ made before a change; it resolves its packages from this checkout's node_modules).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runNodeProcess } from "../test/helpers/process.js";
import { freePort } from "./common.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface RecoveryOptions {
  /** How long the burst of writes runs before SIGKILL. */
  burstMs?: number;
  /** Clients sending writes at the same time. */
  concurrency?: number;
  /** New emails per inviteUsersToOrganization call. */
  emailsPerWrite?: number;
  /** Extra node flags for the timed restart after the kill. */
  nodeFlags?: string[];
  /** Keep the data directory (default: removed). */
  keep?: boolean;
  /** Copy the data directory as the kill left it to this path (to profile its reopening). */
  copyAfterKill?: string;
  /** Also open a copy of the killed data directory with PGlite alone for its redo figures (default on). */
  measureRedo?: boolean;
  /** The compiled service to run (default: this checkout's dist/; another build to compare with). */
  distDir?: string;
}

/** Milliseconds from spawning `node dist/server.js` to each step (undefined: no such log line). */
export interface StartTimings {
  /** The migration runner's log line ("database schema is up to date"): the database is open. */
  migratedMs: number | undefined;
  /** "invites-gateway is listening". */
  listeningMs: number | undefined;
  /** The first GET /ready answered 200. */
  readyMs: number;
}

export interface RecoveryResult {
  dataDir: string;
  /** inviteUsersToOrganization calls answered with a success before the kill. */
  acknowledgedWrites: number;
  /** Calls in flight when the process was killed (their outcome is unknown). */
  inFlightAtKill: number;
  /** Bytes in pg_wal right after the kill. */
  walBytesAtKill: number;
  /**
   * PostgreSQL's own account of its crash recovery, from a copy of the data directory as the kill
   * left it, opened by PGlite alone: the WAL it replayed and the seconds it says the replay took.
   */
  redo: { replayedBytes: number; elapsedS: number } | undefined;
  /** The start after SIGKILL. */
  afterKill: StartTimings;
  /** A normal start after that one stopped on SIGTERM. */
  afterStop: StartTimings;
  /** Acknowledged emails not found after the restart (must be empty). */
  lostEmails: string[];
}

export async function measureRecovery(options: RecoveryOptions = {}): Promise<RecoveryResult> {
  const burstMs = options.burstMs ?? 30_000;
  const concurrency = options.concurrency ?? 8;
  const emailsPerWrite = options.emailsPerWrite ?? 100;
  const dist = options.distDir ?? join(ROOT, "dist");
  const dataDir = mkdtempSync(join(tmpdir(), "igw-recovery-"));
  const env = {
    DATA_DIR: dataDir,
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    RATE_LIMIT_PER_MINUTE: "0",
    INVITE_RATE_LIMIT: "10000000",
    ORG_CREATE_LIMIT_PER_DAY: "0",
  };
  let server: Started | undefined;
  try {
    const created = await runToEnd([join(dist, "cli.js"), "user", "create", "--email", "owner@recovery.test"], env);
    const { token } = JSON.parse(created) as { token: string };
    server = await startServer(dist, env);
    const gql = graphql(server.url, token);
    const org = await gql(`mutation { createOrganization(input: { title: "Recovery" }) {
      ... on CreateOrganizationSuccess { organization { id } } } }`);
    const organizationId = org.data.createOrganization.organization.id as string;

    // The burst: each client sends its next write as soon as the last one is answered.
    const acknowledged: string[] = [];
    let inFlight = 0;
    let next = 0;
    let stop = false;
    const client = async () => {
      while (!stop) {
        const emails = Array.from({ length: emailsPerWrite }, () => `u${next++}@recovery.test`);
        inFlight++;
        try {
          const result = await gql(
            `mutation ($o: ID!, $e: [String!]!) { inviteUsersToOrganization(organizationId: $o, input: { emails: $e }) {
              __typename } }`,
            { o: organizationId, e: emails },
          );
          if (result.data?.inviteUsersToOrganization?.__typename === "InviteUsersToOrganizationSuccess") {
            if (!stop) acknowledged.push(...emails);
          }
        } catch {
          // The connection died with the process: not acknowledged.
        } finally {
          inFlight--;
        }
      }
    };
    const clients = Array.from({ length: concurrency }, client);
    await new Promise((r) => setTimeout(r, burstMs));
    // Only answers received before the kill count: `stop` is set in the same tick as the kill.
    stop = true;
    const inFlightAtKill = inFlight;
    server.child.kill("SIGKILL");
    await server.exited;
    server = undefined;
    await Promise.all(clients);
    const walBytesAtKill = dirBytes(join(dataDir, "pg_wal"));
    if (options.copyAfterKill) copyDataDir(dataDir, options.copyAfterKill);
    const redo = options.measureRedo === false ? undefined : await measureRedo(dataDir);

    const restarted = await startServer(dist, env, options.nodeFlags ?? []);
    server = restarted;
    const afterKill = restarted.timings;
    const found = await listInviteEmails(graphql(restarted.url, token), organizationId);
    const lostEmails = acknowledged.filter((e) => !found.has(e));
    await stopServer(restarted);
    server = undefined;

    const normal = await startServer(dist, env);
    server = normal;
    const afterStop = normal.timings;
    await stopServer(normal);
    server = undefined;
    return {
      dataDir,
      acknowledgedWrites: acknowledged.length / emailsPerWrite,
      inFlightAtKill,
      walBytesAtKill,
      redo,
      afterKill,
      afterStop,
      lostEmails,
    };
  } finally {
    if (server) {
      server.child.kill("SIGKILL");
      await server.exited;
    }
    if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

interface Started {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
  timings: StartTimings;
}

/** Spawns `node dist/server.js` on a free port and polls GET /ready until it answers 200. */
async function startServer(dist: string, env: Record<string, string>, nodeFlags: string[] = []): Promise<Started> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  const child = spawn(process.execPath, [...nodeFlags, join(dist, "server.js")], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const lineTimes: Record<string, number> = {};
  const onData = (chunk: Buffer) => {
    output += chunk;
    for (const msg of ["database schema is up to date", "applied migrations", "invites-gateway is listening"]) {
      if (lineTimes[msg] === undefined && output.includes(`"msg":"${msg}"`)) lineTimes[msg] = Date.now() - t0;
    }
    // Keep only the tail: a burst logs one line per request.
    if (output.length > 1_000_000) output = output.slice(-100_000);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let exitCode: number | null | undefined;
  void exited.then(() => {
    exitCode = child.exitCode;
  });
  const deadline = t0 + 120_000;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`server exited (${exitCode}) before /ready:\n${output.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`server not ready in time:\n${output.slice(-4000)}`);
    const status = await fetch(`${url}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = Date.now() - t0;
  return {
    child,
    url,
    exited,
    timings: {
      migratedMs: lineTimes["database schema is up to date"] ?? lineTimes["applied migrations"],
      listeningMs: lineTimes["invites-gateway is listening"],
      readyMs,
    },
  };
}

async function stopServer(server: Started): Promise<void> {
  server.child.kill("SIGTERM");
  await server.exited;
  if (server.child.exitCode !== 0) throw new Error(`server exited ${server.child.exitCode} on SIGTERM`);
}

type Gql = (query: string, variables?: object) => Promise<any>;

function graphql(url: string, token: string): Gql {
  return async (query, variables) => {
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body;
  };
}

async function listInviteEmails(gql: Gql, organizationId: string): Promise<Set<string>> {
  const emails = new Set<string>();
  let after: string | null = null;
  for (;;) {
    const page: any = await gql(
      `query ($o: ID!, $after: String) { organization(id: $o) { invites(first: 1000, after: $after) {
        edges { node { email } } pageInfo { hasNextPage endCursor } } } }`,
      { o: organizationId, after },
    );
    const invites = page.data.organization.invites;
    for (const edge of invites.edges) emails.add(edge.node.email);
    if (!invites.pageInfo.hasNextPage) return emails;
    after = invites.pageInfo.endCursor;
  }
}

/** `node ...args` to its end: its stdout, or an error naming its exit code and stderr. */
async function runToEnd(args: string[], env: Record<string, string>): Promise<string> {
  const { code, stdout, stderr } = await runNodeProcess(args, { ...process.env, ...env });
  if (code !== 0) throw new Error(`${args.join(" ")} exited ${code}: ${stderr}`);
  return stdout;
}

function copyDataDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, filter: (path) => !path.endsWith(".sock") });
}

/** Opens a copy of `dataDir` in a process of its own and reads PostgreSQL's "redo starts/done" lines. */
async function measureRedo(dataDir: string): Promise<RecoveryResult["redo"]> {
  const copy = mkdtempSync(join(tmpdir(), "igw-recovery-redo-"));
  try {
    copyDataDir(dataDir, copy);
    const script = `
      const { PGlite } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "node_modules/@electric-sql/pglite/dist/index.js")).href)});
      const lines = [];
      const db = new PGlite(${JSON.stringify(copy)}, { onStderr: (l) => { lines.push(l); return false; } });
      await db.waitReady;
      await db.close();
      console.log(JSON.stringify(lines));`;
    const out = await runToEnd(["--input-type=module", "-e", script], {});
    const log = (JSON.parse(out) as string[]).join("\n");
    const start = /redo starts at ([0-9A-F]+\/[0-9A-F]+)/.exec(log);
    const done = /redo done at ([0-9A-F]+\/[0-9A-F]+).*elapsed: ([0-9.]+) s/.exec(log);
    if (!start?.[1] || !done?.[1] || !done[2]) return { replayedBytes: 0, elapsedS: 0 };
    return { replayedBytes: lsn(done[1]) - lsn(start[1]), elapsedS: Number(done[2]) };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function lsn(text: string): number {
  const [hi = "0", lo = "0"] = text.split("/");
  return Number.parseInt(hi, 16) * 2 ** 32 + Number.parseInt(lo, 16);
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const stat = statSync(join(dir, name));
    total += stat.isDirectory() ? dirBytes(join(dir, name)) : stat.size;
  }
  return total;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `min ${sorted[0]} / median ${median} / max ${sorted[sorted.length - 1]}`;
}

async function main(): Promise<void> {
  const env = process.env;
  const runs = Number(env.RECOVERY_RUNS || 5);
  const options: RecoveryOptions = {
    burstMs: Number(env.RECOVERY_BURST_MS || 30_000),
    concurrency: Number(env.RECOVERY_CONCURRENCY || 8),
    emailsPerWrite: Number(env.RECOVERY_EMAILS_PER_WRITE || 100),
    nodeFlags: env.RECOVERY_NODE_FLAGS ? env.RECOVERY_NODE_FLAGS.split(" ") : [],
    keep: env.RECOVERY_KEEP === "1",
    copyAfterKill: env.RECOVERY_COPY_AFTER_KILL,
    distDir: env.RECOVERY_DIST,
  };
  const results: RecoveryResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await measureRecovery(options);
    results.push(r);
    console.log(
      JSON.stringify({
        run: i + 1,
        acknowledgedWrites: r.acknowledgedWrites,
        inFlightAtKill: r.inFlightAtKill,
        walMB: +(r.walBytesAtKill / 2 ** 20).toFixed(1),
        replayedMB: r.redo && +(r.redo.replayedBytes / 2 ** 20).toFixed(1),
        redoS: r.redo?.elapsedS,
        afterKill: r.afterKill,
        afterStop: r.afterStop,
        lost: r.lostEmails.length,
        ...(options.keep ? { dataDir: r.dataDir } : {}),
      }),
    );
  }
  console.log(`after SIGKILL, spawn -> /ready 200 (ms): ${summary(results.map((r) => r.afterKill.readyMs))}`);
  console.log(`after SIGTERM, spawn -> /ready 200 (ms): ${summary(results.map((r) => r.afterStop.readyMs))}`);
  if (results.every((r) => r.redo)) {
    console.log(
      `WAL replayed (MB): ${summary(results.map((r) => +((r.redo?.replayedBytes ?? 0) / 2 ** 20).toFixed(1)))}`,
    );
    console.log(`redo elapsed (s, PostgreSQL's figure): ${summary(results.map((r) => r.redo?.elapsedS ?? 0))}`);
  }
  console.log(`acknowledged writes per run: ${summary(results.map((r) => r.acknowledgedWrites))}`);
  const lost = results.reduce((n, r) => n + r.lostEmails.length, 0);
  console.log(lost === 0 ? "every acknowledged write survived" : `LOST ${lost} acknowledged invites`);
  if (lost > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
