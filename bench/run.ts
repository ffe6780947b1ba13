/**
 * `npm run bench`: the benchmark of issue 6. Creates a fresh PostgreSQL database, seeds it through
 * the service's CLI and API, then drives the service and the hand-written floor (bench/floor/) with
 * wrk, each server pinned to one core and wrk to the other, and reports per workload the server's
 * CPU time per request (the main figure), requests/s, p99 latency, peak RSS, SQL statements per
 * request and the ratio to the floor. Writes bench/results/<date>.md and .json and prints the table.
 *
 * Environment (all optional):
 *   BENCH_DATABASE_URL  PostgreSQL server to create the throw-away database on
 *                       (default postgresql://postgres@127.0.0.1:5432/postgres)
 *   BENCH_DURATION      measured seconds per workload and server (default 12), in BENCH_ROUNDS rounds
 *                       (default 3) that alternate between the service and the floor
 *   BENCH_WARMUP        seconds of each warm-up run (default 3)
 *   BENCH_ONLY          e.g. "W2" or "W1,W3": run only these workloads
 *   BENCH_CPU_PROF      a directory: run the timed service under `node --cpu-prof` writing there
 *   BENCH_NODE_FLAGS    extra node flags for the timed service, e.g. "--max-semi-space-size=32"
 *   BENCH_NO_WRITE      1: print the table but write no results file
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { applyMigrations } from "../src/migrate.js";
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
const CONNECTIONS = 8;
const SQL_COUNT_REQUESTS = 20;
const TARGETS: Partial<Record<WorkloadId, number>> = { W1: 2.5, W2: 2, W3: 2 };
const multiCore = os.availableParallelism() >= 2;
const SERVER_CPU = multiCore ? "1" : "0";
const WRK_CPU = "0";
const runId = randomBytes(4).toString("hex");
/** `npm start`'s entry: src/ compiled by `npm run build`. */
const SERVICE_ENTRY = "dist/server.js";

type TargetName = "service" | "floor";

interface Measurement {
  requests: number;
  seconds: number;
  /** The median of the rounds' CPU µs per request. */
  cpuUsPerRequest: number;
  cpuUsPerRequestRounds: number[];
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** VmHWM of the server process after this workload's measured run (its peak since start). */
  peakRssMb: number;
  errors: number;
  errorSample?: string;
}

interface WorkloadResult {
  id: WorkloadId;
  title: string;
  service?: Measurement;
  floor?: Measurement;
  sqlPerRequest: Partial<Record<TargetName, number>>;
  ratio?: number;
  /** Round i's service CPU/req ÷ round i's floor CPU/req. */
  ratioRounds?: number[];
  target?: number;
  problems: string[];
}

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

// ---- The throw-away database.

function databaseUrl(name: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
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
): Promise<Server> {
  const port = await freePort();
  const loader = script.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn("taskset", ["-c", SERVER_CPU, process.execPath, ...nodeFlags, ...loader, script], {
    cwd: root,
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

/** Checks each target's answer against the expected one, and the service's against the floor's. */
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
  const mismatch =
    normalized.service !== undefined && normalized.floor !== undefined && normalized.service !== normalized.floor
      ? `the floor's answer differs from the service's:\n  service: ${normalized.service.slice(0, 300)}\n  floor:   ${normalized.floor.slice(0, 300)}`
      : undefined;
  return { problems, mismatch };
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
  p50Us: number;
  p99Us: number;
  errors: number;
  sample: string;
}

/** One measured wrk run, with the server's CPU time around it. */
async function measuredRound(server: Server, workload: Workload, seed: Seeded, label: string, dir: string) {
  const before = cpuMicros(server.pid);
  const run = await runWrk(server, workload, seed, DURATION_S / ROUNDS, label, dir);
  const cpuUs = cpuMicros(server.pid) - before;
  const errors = run.socketErrors + run.non2xx + run.wrongBody;
  return { ...run, seconds: run.durationUs / 1e6, cpuUs, errors } satisfies Round;
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
  return {
    requests,
    seconds: round(seconds, 2),
    cpuUsPerRequest: round(median(perRound), 1),
    cpuUsPerRequestRounds: perRound.map((v) => round(v, 1)),
    requestsPerSecond: round(requests / seconds, 0),
    p50Ms: round(median(rounds.map((r) => r.p50Us)) / 1000, 2),
    p99Ms: round(median(rounds.map((r) => r.p99Us)) / 1000, 2),
    peakRssMb: round(peakRssMb(server.pid), 1),
    errors,
    ...(errors > 0 ? { errorSample: rounds.find((r) => r.sample)?.sample ?? "" } : {}),
  };
}

/**
 * Warms each server up, then alternates their measured rounds (service, floor, service, ...): a
 * change in the machine's load during the workload then weighs on both alike.
 */
async function measure(servers: Server[], workload: Workload, seed: Seeded, dir: string) {
  for (const server of servers) await runWrk(server, workload, seed, WARMUP_S, `${server.name}-warm`, dir);
  const rounds = new Map<Server, Round[]>(servers.map((s) => [s, []]));
  for (let i = 0; i < ROUNDS; i++) {
    for (const server of servers) {
      rounds.get(server)?.push(await measuredRound(server, workload, seed, `${server.name}-run${i}`, dir));
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
  };
  loadAtStart: string;
  loadAtEnd: string;
  totalSeconds: number;
  workloads: WorkloadResult[];
}

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined ? "–" : value.toFixed(digits);
}

function pair(a: number | undefined, b: number | undefined, digits = 0): string {
  return `${fmt(a, digits)} / ${fmt(b, digits)}`;
}

function markdown(report: Report): string {
  const rows = report.workloads.map((w) => {
    const range = w.ratioRounds?.length
      ? ` (${Math.min(...w.ratioRounds).toFixed(1)}–${Math.max(...w.ratioRounds).toFixed(1)})`
      : "";
    const ratio = w.ratio === undefined ? "–" : `**${w.ratio.toFixed(2)}×**${range}`;
    const target = w.target ? `≤ ${w.target}×` : "";
    const errors = `${(w.service?.errors ?? 0) + (w.floor?.errors ?? 0)}${w.problems.length ? " ⚠" : ""}`;
    return `| ${w.id} | ${pair(w.service?.cpuUsPerRequest, w.floor?.cpuUsPerRequest)} | ${ratio} | ${target} | ${pair(
      w.service?.requestsPerSecond,
      w.floor?.requestsPerSecond,
    )} | ${pair(w.service?.p99Ms, w.floor?.p99Ms, 1)} | ${pair(w.service?.peakRssMb, w.floor?.peakRssMb)} | ${pair(
      w.sqlPerRequest.service,
      w.sqlPerRequest.floor,
      w.sqlPerRequest.service !== undefined && !Number.isInteger(w.sqlPerRequest.service) ? 1 : 0,
    )} | ${errors} |`;
  });
  const problems = report.workloads.flatMap((w) => w.problems.map((p) => `- ${w.id}: ${p}`));
  return [
    `# Benchmark ${report.date}`,
    "",
    `\`npm run bench\` on commit ${report.commit}, Node ${report.node}, ${report.cpu}. Server pinned to CPU ${report.settings.serverCpu}, ` +
      `wrk to CPU ${report.settings.wrkCpu} (\`wrk -t1 -c${report.settings.connections}\`). Per workload: ${report.settings.warmupS} s warm-up ` +
      `of each server, then ${report.settings.rounds} measured rounds of ${report.settings.durationS / report.settings.rounds} s ` +
      `alternating service and floor. Took ${Math.round(report.totalSeconds)} s.`,
    "",
    `Machine load at start: \`${report.loadAtStart}\`; at end: \`${report.loadAtEnd}\`.`,
    "",
    "Each cell is service / floor. CPU µs/req: utime+stime of the server process during a measured round ÷ requests " +
      "completed, median of the rounds (the main figure); ratio: service CPU/req ÷ floor CPU/req, with the range " +
      "of the rounds' ratios; target: issue 6's. p99: median of the rounds. " +
      "Peak RSS: VmHWM after the workload. SQL/req: from separate counting runs (the service's Prisma query " +
      "events do not include BEGIN; the floor counts every statement, BEGIN and COMMIT included). errors: " +
      "non-2xx answers, socket errors and answers without the expected content, in the measured runs.",
    "",
    "| workload | CPU µs/req | ratio to floor | target | req/s | p99 ms | peak RSS MB | SQL/req | errors |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    ...report.workloads.map((w) => `- ${w.id}: ${w.title}`),
    ...(problems.length ? ["", "**Problems**", "", ...problems] : []),
    "",
  ].join("\n");
}

// ---- Main.

async function main(): Promise<number> {
  const started = Date.now();
  ensureTools();
  if (!multiCore) log("only one CPU: server and wrk share it; figures will not compare with 2-core runs");
  const only = env.BENCH_ONLY?.split(",").map((s) => s.trim().toUpperCase());
  const workloads = WORKLOADS.filter((w) => !only || only.includes(w.id));
  const loadAtStart = loadLine();
  log(`load: ${loadAtStart}`);

  const dbName = `igw_bench_${runId}`;
  const dbUrl = databaseUrl(dbName);
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
      await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e: unknown) =>
        log(`could not drop ${dbName}: ${String(e)}`),
      );
    }
  };
  process.once("SIGINT", () => {
    void cleanup().then(() => process.exit(130));
  });

  try {
    log(`creating database ${dbName}`);
    await adminQuery(`CREATE DATABASE ${dbName}`);
    await applyMigrations({ kind: "postgres", connectionString: dbUrl });

    const serviceEnv = {
      DATABASE_URL: dbUrl,
      AUTO_MIGRATE: "false",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      INVITE_RATE_LIMIT: "10000000",
    };
    const floorEnv = { DATABASE_URL: dbUrl, INVITE_RATE_LIMIT: "10000000", INVITE_TTL_MS: String(7 * 86_400_000) };

    // Phase 1: seed, check every answer, count SQL statements (the service with BENCH_COUNT_SQL=1).
    // The service as `npm start` runs it: compiled to dist/ first (`npm run build`).
    log("building the service: npm run build");
    execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    const counting = await startServer("service", SERVICE_ENTRY, { ...serviceEnv, BENCH_COUNT_SQL: "1" });
    servers.push(counting);
    const floor = await startServer("floor", "bench/floor/server.ts", floorEnv);
    servers.push(floor);
    log("seeding: 1 admin (CLI), 50 organizations, 60 invites (API)");
    const seeded = await seed(counting.url, dbUrl);

    const results: WorkloadResult[] = [];
    for (const workload of workloads) {
      const result: WorkloadResult = {
        id: workload.id,
        title: workload.title,
        sqlPerRequest: {},
        problems: [],
        ...(TARGETS[workload.id] ? { target: TARGETS[workload.id] } : {}),
      };
      const { problems, mismatch } = await checkAnswers(workload, seeded, { service: counting, floor });
      for (const [name, found] of Object.entries(problems)) {
        if (found.length) result.problems.push(`${name} answer is wrong: ${found.join("; ")}`);
      }
      if (mismatch) result.problems.push(mismatch);
      result.sqlPerRequest.service = await countStatements(workload, seeded, counting, "sql-service");
      result.sqlPerRequest.floor = await countStatements(workload, seeded, floor, "sql-floor");
      log(
        `${workload.id}: answers ${result.problems.length ? "WRONG" : "ok"}, SQL/req ${pair(result.sqlPerRequest.service, result.sqlPerRequest.floor, 1)}`,
      );
      results.push(result);
    }
    await counting.stop();
    servers.splice(servers.indexOf(counting), 1);

    // Phase 2: the timed runs, without SQL counting; service then floor for each workload.
    const profileDir = env.BENCH_CPU_PROF ? path.resolve(env.BENCH_CPU_PROF) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const service = await startServer(
      "service",
      SERVICE_ENTRY,
      serviceEnv,
      [
        ...(env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
        ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
      ],
    );
    servers.push(service);
    for (const workload of workloads) {
      const result = results.find((r) => r.id === workload.id) as WorkloadResult;
      const { problems } = await checkAnswers(workload, seeded, { service });
      if (problems.service?.length)
        result.problems.push(`timed service answer is wrong: ${problems.service.join("; ")}`);
      const timed = [service, floor].filter(
        (server) => !result.problems.some((p) => p.startsWith(`${server.name} answer is wrong`)),
      );
      log(`${workload.id}: ${WARMUP_S} s warm-up each, then ${ROUNDS} × ${DURATION_S / ROUNDS} s alternating`);
      for (const [name, m] of await measure(timed, workload, seeded, tmp)) {
        result[name] = m;
        if (m.errors > 0) result.problems.push(`${name}: ${m.errors} failed requests, e.g. ${m.errorSample}`);
      }
      if (result.service && result.floor) {
        const floorRounds = result.floor.cpuUsPerRequestRounds;
        result.ratio = round(result.service.cpuUsPerRequest / result.floor.cpuUsPerRequest, 2);
        result.ratioRounds = result.service.cpuUsPerRequestRounds.map((v, i) => round(v / (floorRounds[i] ?? v), 2));
      }
      log(
        `${workload.id}: CPU µs/req ${pair(result.service?.cpuUsPerRequest, result.floor?.cpuUsPerRequest, 1)}, ratio ${fmt(result.ratio, 2)}`,
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
      },
      loadAtStart,
      loadAtEnd: loadLine(),
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
