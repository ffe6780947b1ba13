/**
 * `npm run bench`: the benchmark of issues 6 and 13. Creates a fresh PostgreSQL database, seeds it
 * through the service's CLI and API, then drives with wrk the service, the hand-written floor
 * (bench/floor/) and two peers written the common way (bench/peers/yoga-sdl/: graphql-yoga with an
 * SDL schema and resolvers on `pg`, and the same with graphql-jit), each server pinned to one core and
 * wrk to the other, and reports per workload and server the CPU time per request (the main figure),
 * PostgreSQL's CPU time per request, requests/s, p99 latency, peak RSS, SQL statements per request,
 * and the service's ratio to the floor and to each peer. Writes bench/results/<date>.md and .json and
 * prints the table.
 *
 * Environment (all optional):
 *   BENCH_DATABASE_URL  PostgreSQL server to create the throw-away database on
 *                       (default postgresql://postgres@127.0.0.1:5432/postgres)
 *   BENCH_DURATION      measured seconds per workload and server (default 12), in BENCH_ROUNDS rounds
 *                       (default 3) that alternate between the servers
 *   BENCH_WARMUP        seconds of each warm-up run (default 3)
 *   BENCH_ONLY          e.g. "W2" or "W1,W3": run only these workloads
 *   BENCH_TARGETS       e.g. "service,floor": run only these servers (default
 *                       service,floor,yoga-sdl,yoga-jit; the service seeds the database in any case)
 *   BENCH_CPU_PROF      a directory: run the timed service under `node --cpu-prof` writing there
 *   BENCH_NODE_FLAGS    extra node flags for the timed service, after those of package.json's `start`
 *                       (which it always gets), e.g. "--max-semi-space-size=32"
 *   BENCH_NO_WRITE      1: print the table but write no results file
 *   BENCH_BEFORE        a directory holding another checkout of this repository with its
 *                       node_modules (e.g. `git worktree add /tmp/before HEAD~1 && npm ci` there):
 *                       adds the target "before", that checkout built and run as the service is, so
 *                       a change is measured against what it changes in the same run
 *   BENCH_PG_SCOPE      "database": PG CPU counts only the backends connected to the run's database
 *                       (not the server's background processes, nor other databases' work: for a
 *                       machine shared with other runs); default "server": every PostgreSQL process
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { applyMigrations } from "../src/db/migrate.js";
import { adminQuery, withDatabase } from "../test/helpers/pg-admin.js";
import { freePort } from "./common.js";
import {
  EMAIL_PLACEHOLDER,
  INVITE_COUNT,
  ORG_COUNT,
  type Seeded,
  WORKLOADS,
  type Workload,
  type WorkloadId,
} from "./workloads.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = process.env;
const SERVER_URL = env.BENCH_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/postgres";
const DURATION_S = Number(env.BENCH_DURATION || 12);
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS || 3));
const WARMUP_S = Number(env.BENCH_WARMUP || 3);
/** BENCH_PG_SCOPE=database: the run's database, whose backends alone PG CPU counts; else undefined. */
let pgScopeDatabase: string | undefined;
const CONNECTIONS = 8;
const SQL_COUNT_REQUESTS = 20;
const TARGETS: Partial<Record<WorkloadId, number>> = { W1: 2.5, W2: 2, W3: 2 };
const multiCore = os.availableParallelism() >= 2;
const SERVER_CPU = multiCore ? "1" : "0";
const WRK_CPU = "0";
const runId = randomBytes(4).toString("hex");
/** `npm start`'s entry: src/ compiled by `npm run build`. */
const SERVICE_ENTRY = "dist/server.js";

/**
 * The node flags `npm start` runs the service with (package.json's `start`: `node <flags>
 * dist/server.js`), so that the benchmark measures the service as it is started, memory settings
 * included (bench/results/memory-2026-12-03.md). `dir`: the checkout (the "before" target's own).
 */
function startFlags(dir = root): string[] {
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { scripts: { start: string } };
  // `exec node …`: npm's SIGTERM then reaches the server itself rather than a shell.
  const words = pkg.scripts.start
    .trim()
    .replace(/^exec\s+/, "")
    .split(/\s+/);
  if (words[0] !== "node" || words.at(-1) !== SERVICE_ENTRY) {
    throw new Error(
      `package.json's start script is not \`[exec] node [flags] ${SERVICE_ENTRY}\`: ${pkg.scripts.start}`,
    );
  }
  return words.slice(1, -1);
}

const TARGET_NAMES = ["service", "before", "floor", "yoga-sdl", "yoga-jit"] as const;
const BEFORE_DIR = env.BENCH_BEFORE ? path.resolve(env.BENCH_BEFORE) : undefined;
type TargetName = (typeof TARGET_NAMES)[number];
/** What the service is compared with: the ratios' denominators. */
type BaselineName = Exclude<TargetName, "service">;
/** The answers every other target's must equal byte for byte: the floor's, else the first target's. */
const REFERENCE_ORDER: TargetName[] = ["floor", "service", "yoga-sdl", "yoga-jit"];

interface Measurement {
  requests: number;
  seconds: number;
  /** The median of the rounds' CPU µs per request. */
  cpuUsPerRequest: number;
  cpuUsPerRequestRounds: number[];
  /** PostgreSQL's CPU µs per request (all its processes), median of the rounds; absent when not visible. */
  pgCpuUsPerRequest?: number;
  pgCpuUsPerRequestRounds?: number[];
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** VmHWM of the server process after this workload's measured run (its peak since start). */
  peakRssMb: number;
  errors: number;
  errorSample?: string;
}

interface Ratio {
  /** The service's CPU/req ÷ this target's (medians of the rounds). */
  ratio: number;
  /** Round i's service CPU/req ÷ round i's CPU/req of this target. */
  rounds: number[];
}

type WorkloadResult = Partial<Record<TargetName, Measurement>> & {
  id: WorkloadId;
  title: string;
  sqlPerRequest: Partial<Record<TargetName, number>>;
  /** The ratio to the floor (as `ratios.floor`). */
  ratio?: number;
  ratioRounds?: number[];
  /** The service's ratio to each other target of the run. */
  ratios: Partial<Record<BaselineName, Ratio>>;
  target?: number;
  problems: string[];
};

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---- Tools: wrk and taskset.

function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

function ensureTools(): void {
  if (!hasCommand("taskset")) {
    throw new Error("taskset is missing: install it with `apt-get install -y util-linux`");
  }
  if (hasCommand("wrk")) return;
  const asRoot = process.getuid?.() === 0;
  if (!asRoot || process.stdin.isTTY) {
    throw new Error(
      `wrk is missing: install it with \`${asRoot ? "" : "sudo "}apt-get install -y wrk\`, then run again`,
    );
  }
  log("wrk is missing: apt-get install -y wrk");
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "wrk"], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
    });
  if (install().status !== 0) {
    spawnSync("apt-get", ["update"], { stdio: ["ignore", "inherit", "inherit"] });
    if (install().status !== 0 || !hasCommand("wrk")) throw new Error("could not install wrk with apt-get");
  }
}

// ---- Processes.

interface Server {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A base environment for child processes: nothing of ours that could change their behaviour. */
function baseEnv(): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "LANG", "TZ", "TMPDIR"]) if (env[key]) picked[key] = env[key] as string;
  return picked;
}

/**
 * Starts `node [flags] <script>` pinned to SERVER_CPU (taskset execs node: same pid): a `.js` script
 * as it is (the service as `npm start` runs it, compiled to dist/), a `.ts` one through tsx.
 */
async function startServer(
  name: string,
  script: string,
  extraEnv: Record<string, string>,
  nodeFlags: string[] = [],
  cwd = root,
): Promise<Server> {
  const port = await freePort();
  const loader = script.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn("taskset", ["-c", SERVER_CPU, process.execPath, ...nodeFlags, ...loader, script], {
    cwd,
    env: { ...baseEnv(), NODE_ENV: "production", HOST: "127.0.0.1", PORT: String(port), ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not answer /health within 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid as number;
  const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  if (comm !== "node") throw new Error(`${name}: pid ${pid} is ${comm}, not the node server`);
  return {
    name,
    url,
    pid,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime + stime of a process, in microseconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/**
 * PostgreSQL's CPU time so far, in microseconds: utime + stime of every process whose comm is
 * `postgres`, plus cutime + cstime of each postmaster (a `postgres` whose parent is not one), where
 * the times of backends that exited have gone. The difference of two readings is what PostgreSQL
 * spent in between, backends that came and went included. Undefined when no such process is visible
 * (a server on another machine or in another container).
 */
function pgCpuMicros(): number | undefined {
  const procs = new Map<number, { ppid: number; self: number; children: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    if (stat.slice(open + 1, close) !== "postgres") continue;
    if (pgScopeDatabase && !backendOf(entry, pgScopeDatabase)) continue;
    // Fields from 3 (state) on: ppid is field 4, utime/stime 14/15, cutime/cstime 16/17.
    const f = stat.slice(close + 2).split(" ");
    procs.set(Number(entry), {
      ppid: Number(f[1]),
      self: Number(f[11]) + Number(f[12]),
      children: Number(f[13]) + Number(f[14]),
    });
  }
  if (procs.size === 0 && !pgScopeDatabase) return undefined;
  if (pgScopeDatabase) return (scopedTicks(procs) / CLK_TCK) * 1e6;
  let ticks = 0;
  for (const p of procs.values()) ticks += p.self + (pgScopeDatabase || procs.has(p.ppid) ? 0 : p.children);
  return (ticks / CLK_TCK) * 1e6;
}

/**
 * The run's database's backends' ticks so far, as a counter that only grows: what each backend spent
 * since the last reading (all of it for one that is new since), so that a backend that exits (a
 * stopped server's connections) takes none of the earlier readings' time with it.
 */
const lastTicks = new Map<number, number>();
let scopedTotal = 0;
function scopedTicks(procs: Map<number, { self: number }>): number {
  for (const [pid, p] of procs) scopedTotal += p.self - (lastTicks.get(pid) ?? 0);
  lastTicks.clear();
  for (const [pid, p] of procs) lastTicks.set(pid, p.self);
  return scopedTotal;
}

/** Whether process `pid` is a backend connected to `database` (its title: "postgres: … <user> <database> <client> …"). */
function backendOf(pid: string, database: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(` ${database} `);
  } catch {
    return false;
  }
}

/** Whether PostgreSQL's processes can be read here: a local server whose processes are visible. */
function pgCpuVisible(): boolean {
  const host = new URL(SERVER_URL).hostname;
  const local = host === "" || host === "localhost" || host.startsWith("127.") || host === "[::1]";
  return local && pgCpuMicros() !== undefined;
}

// ---- Requests.

interface Answer {
  status: number;
  text: string;
  json: unknown;
}

async function post(url: string, body: string, token: string): Promise<Answer> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

async function gql(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const answer = await post(url, JSON.stringify({ query, variables }), token);
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 500)}`);
  return answer.json as any;
}

async function sqlCount(url: string): Promise<number> {
  const res = await fetch(`${url}/debug/sql-count`);
  if (!res.ok) throw new Error(`${url}/debug/sql-count: HTTP ${res.status}`);
  return ((await res.json()) as { count: number }).count;
}

let emailCounter = 0;
/** A workload's request body; W4's with a fresh email. */
function requestBody(workload: Workload, seed: Seeded, label: string): { body: string; email: string } {
  emailCounter += 1;
  const email = `w4-${label}-${runId}-${emailCounter}@example.com`;
  return { body: JSON.stringify(workload.body(seed)).replace(EMAIL_PLACEHOLDER, email), email };
}

// ---- Seeding: the CLI for the admin and its token, the API for the rest.

async function seed(serviceUrl: string, dbUrl: string): Promise<Seeded> {
  const cli = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli.ts", "user", "create", "--email", "bench-admin@example.com", "--name", "Bench admin"],
    { cwd: root, env: { ...baseEnv(), DATABASE_URL: dbUrl, AUTO_MIGRATE: "false" }, encoding: "utf8" },
  );
  if (cli.status !== 0) throw new Error(`cli user create failed: ${cli.stderr}`);
  const admin = JSON.parse(cli.stdout) as { id: string; token: string };

  const titles = Array.from({ length: ORG_COUNT }, (_, i) => `Bench org ${String(i + 1).padStart(2, "0")}`);
  const orgIds: string[] = [];
  for (const title of titles) {
    const res = await gql(
      serviceUrl,
      admin.token,
      `mutation($title: String!) { createOrganization(input: { title: $title }) {
        ... on CreateOrganizationSuccess { organization { id } } } }`,
      { title },
    );
    const id = res?.data?.createOrganization?.organization?.id;
    if (typeof id !== "string") throw new Error(`createOrganization: ${JSON.stringify(res)}`);
    orgIds.push(id);
  }
  const emails = Array.from(
    { length: INVITE_COUNT },
    (_, i) => `invitee-${String(i + 1).padStart(2, "0")}@example.com`,
  );
  const res = await gql(
    serviceUrl,
    admin.token,
    `mutation($org: ID!, $emails: [String!]!) { inviteUsersToOrganization(organizationId: $org, input: { emails: $emails }) {
      __typename ... on InviteUsersToOrganizationSuccess { invited invites { id email } } ... on Error { code message } } }`,
    { org: orgIds[0], emails },
  );
  const invites = res?.data?.inviteUsersToOrganization?.invites as Array<{ id: string; email: string }> | undefined;
  if (res?.data?.inviteUsersToOrganization?.invited !== INVITE_COUNT || !invites) {
    throw new Error(`inviteUsersToOrganization: ${JSON.stringify(res).slice(0, 500)}`);
  }
  return {
    token: admin.token,
    adminId: admin.id,
    orgIds,
    titles,
    inviteIds: invites.map((i) => i.id),
    inviteEmails: invites.map((i) => i.email),
  };
}

// ---- Checks and SQL counts.

/**
 * Checks each target's answer against the expected one, and each against the reference target's
 * (the floor's when it runs) byte for byte.
 */
async function checkAnswers(workload: Workload, seed: Seeded, servers: Partial<Record<TargetName, Server>>) {
  const problems: Partial<Record<TargetName, string[]>> = {};
  const normalized: Partial<Record<TargetName, string>> = {};
  for (const [name, server] of Object.entries(servers) as Array<[TargetName, Server]>) {
    const { body, email } = requestBody(workload, seed, `check-${name}`);
    const answer = await post(server.url, body, seed.token);
    const found = answer.status === 200 ? workload.check(answer.json, seed, email) : [`HTTP ${answer.status}`];
    if (found.length > 0) found.push(`body: ${answer.text.slice(0, 400)}`);
    problems[name] = found;
    normalized[name] = workload.normalize ? workload.normalize(answer.text, email) : answer.text;
  }
  const reference = REFERENCE_ORDER.find((name) => normalized[name] !== undefined);
  const expected = reference ? (normalized[reference] as string) : "";
  const mismatches: string[] = [];
  for (const [name, text] of Object.entries(normalized) as Array<[TargetName, string]>) {
    if (name === reference || text === expected) continue;
    const width = Math.max(name.length, (reference ?? "").length) + 1;
    mismatches.push(
      `the ${name} answer differs from the ${reference}'s:\n  ${`${reference}:`.padEnd(width)} ${expected.slice(0, 300)}\n  ${`${name}:`.padEnd(width)} ${text.slice(0, 300)}`,
    );
  }
  return { problems, mismatches };
}

async function countStatements(workload: Workload, seed: Seeded, server: Server, label: string): Promise<number> {
  const before = await sqlCount(server.url);
  for (let i = 0; i < SQL_COUNT_REQUESTS; i++) {
    const answer = await post(server.url, requestBody(workload, seed, label).body, seed.token);
    if (answer.status !== 200) throw new Error(`${server.name} ${workload.id}: HTTP ${answer.status}`);
  }
  return ((await sqlCount(server.url)) - before) / SQL_COUNT_REQUESTS;
}

// ---- wrk.

interface WrkResult {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  socketErrors: number;
  non2xx: number;
  wrongBody: number;
  sample: string;
}

async function runWrk(
  server: Server,
  workload: Workload,
  seed: Seeded,
  seconds: number,
  label: string,
  dir: string,
): Promise<WrkResult> {
  const bodyFile = path.join(dir, `${workload.id}.json`);
  writeFileSync(bodyFile, JSON.stringify(workload.body(seed)));
  const wrkEnv: Record<string, string> = {
    ...baseEnv(),
    BENCH_BODY_FILE: bodyFile,
    BENCH_TOKEN: seed.token,
    BENCH_MARKER: workload.marker(seed),
  };
  if (workload.id === "W4") wrkEnv.BENCH_EMAIL_PREFIX = `w4-${label}-${runId}`;
  const args = [
    "-c",
    WRK_CPU,
    "wrk",
    "-t1",
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    path.join(root, "bench/wrk/graphql.lua"),
    `${server.url}/graphql`,
  ];
  const child = spawn("taskset", args, { env: wrkEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}`);
  return JSON.parse(line.slice("BENCH_RESULT ".length)) as WrkResult;
}

interface Round {
  requests: number;
  seconds: number;
  cpuUs: number;
  /** PostgreSQL's CPU time during the round; undefined when it cannot be read. */
  pgCpuUs: number | undefined;
  p50Us: number;
  p99Us: number;
  errors: number;
  sample: string;
}

/** One measured wrk run, with the server's and PostgreSQL's CPU time around it. */
async function measuredRound(
  server: Server,
  workload: Workload,
  seed: Seeded,
  label: string,
  dir: string,
  pg: boolean,
): Promise<Round> {
  const pgBefore = pg ? pgCpuMicros() : undefined;
  const before = cpuMicros(server.pid);
  const run = await runWrk(server, workload, seed, DURATION_S / ROUNDS, label, dir);
  const cpuUs = cpuMicros(server.pid) - before;
  const pgAfter = pg ? pgCpuMicros() : undefined;
  const pgCpuUs = pgBefore !== undefined && pgAfter !== undefined ? pgAfter - pgBefore : undefined;
  const errors = run.socketErrors + run.non2xx + run.wrongBody;
  return { ...run, seconds: run.durationUs / 1e6, cpuUs, pgCpuUs, errors };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function summarize(server: Server, rounds: Round[]): Measurement {
  const requests = rounds.reduce((n, r) => n + r.requests, 0);
  const seconds = rounds.reduce((n, r) => n + r.seconds, 0);
  const errors = rounds.reduce((n, r) => n + r.errors, 0);
  const perRound = rounds.map((r) => r.cpuUs / Math.max(1, r.requests));
  const pgPerRound = rounds.every((r) => r.pgCpuUs !== undefined)
    ? rounds.map((r) => (r.pgCpuUs as number) / Math.max(1, r.requests))
    : undefined;
  return {
    requests,
    seconds: round(seconds, 2),
    cpuUsPerRequest: round(median(perRound), 1),
    cpuUsPerRequestRounds: perRound.map((v) => round(v, 1)),
    ...(pgPerRound
      ? {
          pgCpuUsPerRequest: round(median(pgPerRound), 1),
          pgCpuUsPerRequestRounds: pgPerRound.map((v) => round(v, 1)),
        }
      : {}),
    requestsPerSecond: round(requests / seconds, 0),
    p50Ms: round(median(rounds.map((r) => r.p50Us)) / 1000, 2),
    p99Ms: round(median(rounds.map((r) => r.p99Us)) / 1000, 2),
    peakRssMb: round(peakRssMb(server.pid), 1),
    errors,
    ...(errors > 0 ? { errorSample: rounds.find((r) => r.sample)?.sample ?? "" } : {}),
  };
}

/**
 * Warms each server up, then alternates their measured rounds (service, floor, yoga-sdl, yoga-jit,
 * service, ...): a change in the machine's load during the workload then weighs on all alike.
 */
async function measure(servers: Server[], workload: Workload, seed: Seeded, dir: string, pg: boolean) {
  for (const server of servers) await runWrk(server, workload, seed, WARMUP_S, `${server.name}-warm`, dir);
  const rounds = new Map<Server, Round[]>(servers.map((s) => [s, []]));
  for (let i = 0; i < ROUNDS; i++) {
    for (const server of servers) {
      rounds.get(server)?.push(await measuredRound(server, workload, seed, `${server.name}-run${i}`, dir, pg));
    }
  }
  return new Map(servers.map((server) => [server.name as TargetName, summarize(server, rounds.get(server) ?? [])]));
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ---- Report.

function loadLine(): string {
  try {
    return execFileSync("uptime", { encoding: "utf8" }).trim();
  } catch {
    return `load average: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`;
  }
}

function gitDescription(): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "bench", "prisma", ":!bench/results"], {
      cwd: root,
      encoding: "utf8",
    }).trim();
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return "unknown";
  }
}

interface Report {
  date: string;
  commit: string;
  node: string;
  cpu: string;
  settings: {
    durationS: number;
    rounds: number;
    warmupS: number;
    connections: number;
    serverCpu: string;
    wrkCpu: string;
    /** The servers of the run, in the order of the rounds and of the table's cells. */
    targets: TargetName[];
    /** Whether PostgreSQL's CPU time was read (a local server whose processes are visible). */
    pgCpu: boolean;
    /** What PG CPU counts: every PostgreSQL process, or the run's database's backends (BENCH_PG_SCOPE). */
    pgScope?: "server" | "database";
  };
  loadAtStart: string;
  loadAtEnd: string;
  /** PostgreSQL's CPU µs per second with every timed server up and no load, over a few seconds. */
  pgIdleUsPerSecond?: number;
  totalSeconds: number;
  workloads: WorkloadResult[];
}

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined ? "–" : value.toFixed(digits);
}

/** One figure per target, "a / b / c"; a count with a fraction gets one decimal. */
function cells(values: Array<number | undefined>, digits = 0): string {
  return values
    .map((v) => fmt(v, digits === -1 ? (v !== undefined && !Number.isInteger(v) ? 1 : 0) : digits))
    .join(" / ");
}

function ratioCell(r: Ratio | undefined): string {
  if (!r) return "–";
  const range = r.rounds.length ? ` (${Math.min(...r.rounds).toFixed(1)}–${Math.max(...r.rounds).toFixed(1)})` : "";
  return `**${r.ratio.toFixed(2)}×**${range}`;
}

function markdown(report: Report): string {
  const { targets, pgCpu } = report.settings;
  const baselines = targets.includes("service") ? targets.filter((t): t is BaselineName => t !== "service") : [];
  const showTarget = baselines.includes("floor");
  const header = [
    "workload",
    "CPU µs/req",
    ...(pgCpu ? ["PG CPU µs/req"] : []),
    ...baselines.flatMap((b) =>
      b === "floor" ? ["ratio to floor", ...(showTarget ? ["target"] : [])] : [`ratio to ${b}`],
    ),
    "req/s",
    "p99 ms",
    "peak RSS MB",
    "SQL/req",
    "errors",
  ];
  const rows = report.workloads.map((w) => {
    const of = (pick: (m: Measurement) => number | undefined) => targets.map((t) => (w[t] ? pick(w[t]) : undefined));
    const errors = `${targets.reduce((n, t) => n + (w[t]?.errors ?? 0), 0)}${w.problems.length ? " ⚠" : ""}`;
    const row = [
      w.id,
      cells(of((m) => m.cpuUsPerRequest)),
      ...(pgCpu ? [cells(of((m) => m.pgCpuUsPerRequest))] : []),
      ...baselines.flatMap((b) =>
        b === "floor"
          ? [ratioCell(w.ratios.floor), ...(showTarget ? [w.target ? `≤ ${w.target}×` : ""] : [])]
          : [ratioCell(w.ratios[b])],
      ),
      cells(of((m) => m.requestsPerSecond)),
      cells(
        of((m) => m.p99Ms),
        1,
      ),
      cells(of((m) => m.peakRssMb)),
      cells(
        targets.map((t) => w.sqlPerRequest[t]),
        -1,
      ),
      errors,
    ];
    return `| ${row.join(" | ")} |`;
  });
  const problems = report.workloads.flatMap((w) => w.problems.map((p) => `- ${w.id}: ${p}`));
  const order = targets.join(" / ");
  return [
    `# Benchmark ${report.date}`,
    "",
    `\`npm run bench\` on commit ${report.commit}, Node ${report.node}, ${report.cpu}. Servers pinned to CPU ${report.settings.serverCpu}, ` +
      `wrk to CPU ${report.settings.wrkCpu} (\`wrk -t1 -c${report.settings.connections}\`). Per workload: ${report.settings.warmupS} s warm-up ` +
      `of each server, then ${report.settings.rounds} measured rounds of ${report.settings.durationS / report.settings.rounds} s ` +
      `alternating ${targets.join(", ")}. Took ${Math.round(report.totalSeconds)} s.`,
    "",
    `Machine load at start: \`${report.loadAtStart}\`; at end: \`${report.loadAtEnd}\`.` +
      (report.pgIdleUsPerSecond !== undefined
        ? ` PostgreSQL idle (servers up, no load): ${Math.round(report.pgIdleUsPerSecond)} µs CPU/s.`
        : ""),
    "",
    `Each cell with several figures is ${order}. Targets: service (\`npm start\`'s build); floor (bench/floor/, ` +
      "node:http and `pg` by hand); yoga-sdl (bench/peers/yoga-sdl/: graphql-yoga, an SDL schema, resolvers on `pg` " +
      "with the floor's SQL); yoga-jit (the same through graphql-jit). CPU µs/req: utime+stime of the server process " +
      "during a measured round ÷ requests completed, median of the rounds (the main figure). " +
      (pgCpu
        ? report.settings.pgScope === "database"
          ? "PG CPU µs/req: utime+stime of the `postgres` backends connected to the run's database (BENCH_PG_SCOPE=" +
            "database) during the same round ÷ its requests, median of the rounds; other databases' work and the " +
            "server's background processes are not counted. "
          : "PG CPU µs/req: utime+stime of every `postgres` process (and the postmaster's cutime+cstime, for backends " +
            "that exited) during the same round ÷ its requests, median of the rounds; it includes whatever else the " +
            "PostgreSQL server did meanwhile (other databases, the idle servers' background work). "
        : "") +
      "ratio to X: the service's CPU/req ÷ X's, with the range of the rounds' ratios; target: issue 6's, to the floor. " +
      "p99: median of the rounds. Peak RSS: VmHWM after the workload. SQL/req: from separate counting runs (the " +
      "service's Prisma query events do not include BEGIN; the floor and the peers count every statement, BEGIN and " +
      "COMMIT included). errors: non-2xx answers, socket errors and answers without the expected content, in the " +
      "measured runs, all targets.",
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows,
    "",
    ...report.workloads.map((w) => `- ${w.id}: ${w.title}`),
    ...(problems.length ? ["", "**Problems**", "", ...problems] : []),
    "",
  ].join("\n");
}

// ---- Main.

function selectedTargets(): TargetName[] {
  const named = env.BENCH_TARGETS?.split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const available = TARGET_NAMES.filter((t) => t !== "before" || BEFORE_DIR);
  if (!named?.length) return available;
  const unknown = named.filter((n) => !(available as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(
      `BENCH_TARGETS: unknown ${unknown.join(", ")} (known: ${available.join(", ")}; "before" needs BENCH_BEFORE)`,
    );
  return available.filter((t) => named.includes(t));
}

/** PostgreSQL's CPU µs per second over `seconds` of no load. */
async function pgIdleRate(seconds: number): Promise<number | undefined> {
  const before = pgCpuMicros();
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = pgCpuMicros();
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return before !== undefined && after !== undefined ? round((after - before) / elapsed, 0) : undefined;
}

async function main(): Promise<number> {
  const started = Date.now();
  ensureTools();
  if (!multiCore) log("only one CPU: server and wrk share it; figures will not compare with 2-core runs");
  const only = env.BENCH_ONLY?.split(",").map((s) => s.trim().toUpperCase());
  const workloads = WORKLOADS.filter((w) => !only || only.includes(w.id));
  const targets = selectedTargets();
  const pgCpu = pgCpuVisible();
  if (!pgCpu) log("PostgreSQL's processes are not visible here: no PG CPU column");
  const loadAtStart = loadLine();
  log(`load: ${loadAtStart}`);
  log(`targets: ${targets.join(", ")}`);

  const dbName = `igw_bench_${runId}`;
  if (env.BENCH_PG_SCOPE === "database") pgScopeDatabase = dbName;
  else if (env.BENCH_PG_SCOPE && env.BENCH_PG_SCOPE !== "server")
    throw new Error(`BENCH_PG_SCOPE: "${env.BENCH_PG_SCOPE}" (known: server, database)`);
  const dbUrl = withDatabase(SERVER_URL, dbName);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "igw-bench-"));
  const servers: Server[] = [];
  const stopAll = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers.length = 0;
  };
  let dropped = false;
  const cleanup = async () => {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
    if (!dropped) {
      dropped = true;
      await adminQuery(SERVER_URL, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e: unknown) =>
        log(`could not drop ${dbName}: ${String(e)}`),
      );
    }
  };
  process.once("SIGINT", () => {
    void cleanup().then(() => process.exit(130));
  });

  try {
    log(`creating database ${dbName}`);
    await adminQuery(SERVER_URL, `CREATE DATABASE ${dbName}`);
    await applyMigrations({ kind: "postgres", connectionString: dbUrl });

    const serviceEnv = {
      DATABASE_URL: dbUrl,
      AUTO_MIGRATE: "false",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      INVITE_RATE_LIMIT: "10000000",
      ORG_CREATE_LIMIT_PER_DAY: "0",
    };
    const floorEnv = { DATABASE_URL: dbUrl, INVITE_RATE_LIMIT: "10000000", INVITE_TTL_MS: String(7 * 86_400_000) };
    /** The servers other than the service: the floor and the peers (which share the floor's SQL). */
    const others: Record<BaselineName, { script: string; env: Record<string, string>; cwd?: string }> = {
      // The other checkout: counted (BENCH_COUNT_SQL) in phase 1, restarted without it for the timing.
      before: { script: SERVICE_ENTRY, env: { ...serviceEnv, BENCH_COUNT_SQL: "1" }, cwd: BEFORE_DIR ?? root },
      floor: { script: "bench/floor/server.ts", env: floorEnv },
      "yoga-sdl": { script: "bench/peers/yoga-sdl/server.ts", env: floorEnv },
      "yoga-jit": { script: "bench/peers/yoga-sdl/server.ts", env: { ...floorEnv, PEER_JIT: "1" } },
    };

    // Phase 1: seed, check every answer, count SQL statements (the service with BENCH_COUNT_SQL=1).
    // The service as `npm start` runs it: compiled to dist/ first (`npm run build`). It seeds the
    // database whether or not it is a target of the run.
    log("building the service: npm run build");
    execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    if (BEFORE_DIR && targets.includes("before")) {
      log(`building the "before" checkout: npm run build in ${BEFORE_DIR}`);
      execFileSync("npm", ["run", "build", "--silent"], { cwd: BEFORE_DIR, stdio: ["ignore", "inherit", "inherit"] });
    }
    const serviceFlags = startFlags();
    log(`service: node ${[...serviceFlags, SERVICE_ENTRY].join(" ")}`);
    const counting = await startServer("service", SERVICE_ENTRY, { ...serviceEnv, BENCH_COUNT_SQL: "1" }, serviceFlags);
    servers.push(counting);
    const running: Partial<Record<TargetName, Server>> = {};
    for (const name of targets) {
      if (name === "service") continue;
      const { script, env: serverEnv, cwd } = others[name];
      const flags = name === "before" ? startFlags(cwd) : [];
      const server = await startServer(name, script, serverEnv, flags, cwd);
      servers.push(server);
      running[name] = server;
    }
    const checked: Partial<Record<TargetName, Server>> = {
      ...(targets.includes("service") ? { service: counting } : {}),
      ...running,
    };
    log("seeding: 1 admin (CLI), 50 organizations, 60 invites (API)");
    const seeded = await seed(counting.url, dbUrl);

    const results: WorkloadResult[] = [];
    for (const workload of workloads) {
      const result: WorkloadResult = {
        id: workload.id,
        title: workload.title,
        sqlPerRequest: {},
        ratios: {},
        problems: [],
        ...(TARGETS[workload.id] ? { target: TARGETS[workload.id] } : {}),
      };
      const { problems, mismatches } = await checkAnswers(workload, seeded, checked);
      for (const [name, found] of Object.entries(problems)) {
        if (found.length) result.problems.push(`${name} answer is wrong: ${found.join("; ")}`);
      }
      result.problems.push(...mismatches);
      for (const name of targets) {
        const server = checked[name] as Server;
        result.sqlPerRequest[name] = await countStatements(workload, seeded, server, `sql-${name}`);
      }
      log(
        `${workload.id}: answers ${result.problems.length ? "WRONG" : "ok"}, SQL/req ${cells(
          targets.map((t) => result.sqlPerRequest[t]),
          1,
        )} (${targets.join(" / ")})`,
      );
      results.push(result);
    }
    await counting.stop();
    servers.splice(servers.indexOf(counting), 1);
    if (running.before) {
      const countingBefore = running.before;
      await countingBefore.stop();
      servers.splice(servers.indexOf(countingBefore), 1);
      running.before = await startServer("before", SERVICE_ENTRY, serviceEnv, startFlags(BEFORE_DIR), BEFORE_DIR);
      servers.push(running.before);
    }

    // Phase 2: the timed runs, without SQL counting; the targets in turn for each workload.
    const profileDir = env.BENCH_CPU_PROF ? path.resolve(env.BENCH_CPU_PROF) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    if (targets.includes("service")) {
      const service = await startServer("service", SERVICE_ENTRY, serviceEnv, [
        ...serviceFlags,
        ...(env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
        ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
      ]);
      servers.push(service);
      running.service = service;
    }
    const pgIdleUsPerSecond = pgCpu ? await pgIdleRate(3) : undefined;
    if (pgIdleUsPerSecond !== undefined) log(`PostgreSQL idle with the servers up: ${pgIdleUsPerSecond} µs CPU/s`);
    for (const workload of workloads) {
      const result = results.find((r) => r.id === workload.id) as WorkloadResult;
      if (running.service) {
        const { problems } = await checkAnswers(workload, seeded, { service: running.service });
        if (problems.service?.length)
          result.problems.push(`timed service answer is wrong: ${problems.service.join("; ")}`);
      }
      const timed = targets
        .map((name) => running[name] as Server)
        .filter((server) => !result.problems.some((p) => p.startsWith(`${server.name} answer is wrong`)));
      log(`${workload.id}: ${WARMUP_S} s warm-up each, then ${ROUNDS} × ${DURATION_S / ROUNDS} s alternating`);
      for (const [name, m] of await measure(timed, workload, seeded, tmp, pgCpu)) {
        result[name] = m;
        if (m.errors > 0) result.problems.push(`${name}: ${m.errors} failed requests, e.g. ${m.errorSample}`);
      }
      const service = result.service;
      for (const name of targets) {
        if (name === "service") continue;
        const other = result[name];
        if (!service || !other) continue;
        const rounds = other.cpuUsPerRequestRounds;
        result.ratios[name] = {
          ratio: round(service.cpuUsPerRequest / other.cpuUsPerRequest, 2),
          rounds: service.cpuUsPerRequestRounds.map((v, i) => round(v / (rounds[i] ?? v), 2)),
        };
      }
      if (result.ratios.floor) {
        result.ratio = result.ratios.floor.ratio;
        result.ratioRounds = result.ratios.floor.rounds;
      }
      const ratios = Object.entries(result.ratios).map(([name, r]) => `${fmt(r.ratio, 2)} to ${name}`);
      log(
        `${workload.id}: CPU µs/req ${cells(targets.map((t) => result[t]?.cpuUsPerRequest))}` +
          (pgCpu ? `, PG ${cells(targets.map((t) => result[t]?.pgCpuUsPerRequest))}` : "") +
          (ratios.length ? `; service ${ratios.join(", ")}` : ""),
      );
    }
    await stopAll();

    const report: Report = {
      date: new Date().toISOString().slice(0, 10),
      commit: gitDescription(),
      node: process.version,
      cpu: `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? "unknown CPU"}`,
      settings: {
        durationS: DURATION_S,
        rounds: ROUNDS,
        warmupS: WARMUP_S,
        connections: CONNECTIONS,
        serverCpu: SERVER_CPU,
        wrkCpu: WRK_CPU,
        targets,
        pgCpu,
        pgScope: pgScopeDatabase ? "database" : "server",
      },
      loadAtStart,
      loadAtEnd: loadLine(),
      ...(pgIdleUsPerSecond !== undefined ? { pgIdleUsPerSecond } : {}),
      totalSeconds: round((Date.now() - started) / 1000, 0),
      workloads: results,
    };
    const table = markdown(report);
    process.stdout.write(`\n${table}`);
    if (env.BENCH_NO_WRITE !== "1") {
      const dir = path.join(root, "bench/results");
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${report.date}.md`), table);
      writeFileSync(path.join(dir, `${report.date}.json`), `${JSON.stringify(report, null, 2)}\n`);
      log(`wrote bench/results/${report.date}.md and .json`);
    }
    return results.some((r) => r.problems.length > 0) ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[bench] failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
