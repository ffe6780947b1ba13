/**
 * `npm run bench:first-contact`: what a new user's first minute costs, on the built service (dist/):
 *
 *   first start   a new, empty DATA_DIR: `node dist/server.js` (with `npm start`'s node flags) to
 *                 GET /ready 200, the process's peak RSS (VmHWM) and its RSS after a few requests, 5 s
 *                 and 30 s later (idle: V8's memory reducer has run)
 *   restart       the same DATA_DIR again (SIGTERM before): to /ready, idle RSS
 *   after kill -9 a burst of writes (createLinkInvite, 8 at a time), `kill -9` in the middle of it,
 *                 then a start on that DATA_DIR: to /ready
 *   npm start     `npm start` on the unchanged checkout (its prestart's freshness check included)
 *   PostgreSQL    DATABASE_URL on a new database: idle RSS
 *
 * Each figure is the min / median / max of BENCH_RUNS runs (default 3); with BENCH_BEFORE=<dir> (another
 * checkout of this repository, built, with its node_modules) each run measures that checkout too, in
 * turn, so a change is compared with what it changes on the same machine at the same moment. Writes
 * bench/results/first-contact-<date>.md (BENCH_NO_WRITE=1: print only). Needs PostgreSQL at
 * BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres) for the last figure.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { freePort } from "./common.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PG_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
/** Idle RSS is read twice: 5 s after the last request, and 30 s after (V8's memory reducer has shrunk its young generation by then). */
const IDLE_EARLY_MS = 5_000;
const IDLE_MS = 30_000;

interface Target {
  name: string;
  dir: string;
}
const targets: Target[] = [
  { name: "service", dir: ROOT },
  ...(process.env.BENCH_BEFORE ? [{ name: "before", dir: process.env.BENCH_BEFORE }] : []),
];

/** `npm start`'s node flags, read from the target's own package.json. */
function startFlags(dir: string): string[] {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const words = (pkg.scripts.start ?? "node dist/server.js").replace(/^exec\s+/, "").split(/\s+/);
  return words.slice(1, words.indexOf("dist/server.js"));
}

interface Running {
  child: ChildProcess;
  port: number;
  exited: Promise<unknown>;
}

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const key of ["DATABASE_URL", "DATA_DIR", "PORT", "HOST", "NODE_ENV"]) delete base[key];
  return { ...base, HOST: "127.0.0.1", LOG_LEVEL: "warn", RATE_LIMIT_PER_MINUTE: "1000000", ...extra };
}

function spawnServer(target: Target, port: number, extra: Record<string, string>, viaNpm = false): Running {
  const child = viaNpm
    ? spawn("npm", ["start", "--silent"], {
        cwd: target.dir,
        env: env({ PORT: String(port), ...extra }),
        stdio: "ignore",
        detached: true,
      })
    : spawn(process.execPath, [...startFlags(target.dir), "dist/server.js"], {
        cwd: target.dir,
        env: env({ PORT: String(port), ...extra }),
        stdio: ["ignore", "ignore", "inherit"],
      });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return { child, port, exited };
}

/** Milliseconds from `since` to the first GET /ready 200. */
async function untilReady(server: Running, since: number): Promise<number> {
  const deadline = since + 180_000;
  while (performance.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`the server exited with ${server.child.exitCode}`);
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/ready`);
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the server did not get ready in 180 s");
}

/** CPU time (user + system) a process has used so far, in ms: what a start costs on a busy machine. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  // utime and stime, fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100 Hz).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** VmRSS and VmHWM (peak) of a process, in MB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

async function graphql(port: number, query: string, variables: object = {}, token?: string): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** RSS once idle: a few requests (the database included), then 5 s and 30 s of nothing. */
async function idleRss(server: Running): Promise<{ early: number; idle: number }> {
  for (let i = 0; i < 10; i++) {
    await graphql(server.port, "{ __typename viewer { id } }");
    await fetch(`http://127.0.0.1:${server.port}/ready`).then((r) => r.arrayBuffer());
  }
  await new Promise((r) => setTimeout(r, IDLE_EARLY_MS));
  const early = memory(server.child.pid as number).rss;
  await new Promise((r) => setTimeout(r, IDLE_MS - IDLE_EARLY_MS));
  return { early, idle: memory(server.child.pid as number).rss };
}

async function stop(server: Running, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill(signal);
  await server.exited;
}

function cli(target: Target, dataDir: string, args: string[]): Record<string, string> {
  const out = execFileSync(process.execPath, ["dist/cli.js", ...args], {
    cwd: target.dir,
    env: env({ DATA_DIR: dataDir, LOG_LEVEL: "silent" }),
    encoding: "utf8",
  });
  return JSON.parse(out) as Record<string, string>;
}

type Figures = Record<string, number>;

async function measure(target: Target): Promise<Figures> {
  const figures: Figures = {};
  const dataDir = mkdtempSync(join(tmpdir(), "igw-first-contact-"));
  try {
    // First start.
    let port = await freePort();
    let since = performance.now();
    let server = spawnServer(target, port, { DATA_DIR: dataDir });
    figures["first start: to /ready (ms)"] = await untilReady(server, since);
    figures["first start: CPU to /ready (ms)"] = cpuMs(server.child.pid as number);
    ({ early: figures["first start: RSS 5 s after (MB)"], idle: figures["first start: idle RSS, 30 s (MB)"] } =
      await idleRss(server));
    figures["first start: peak RSS (MB)"] = memory(server.child.pid as number).peak;
    await stop(server);

    // Restart.
    port = await freePort();
    since = performance.now();
    server = spawnServer(target, port, { DATA_DIR: dataDir });
    figures["restart: to /ready (ms)"] = await untilReady(server, since);
    figures["restart: CPU to /ready (ms)"] = cpuMs(server.child.pid as number);
    ({ early: figures["restart: RSS 5 s after (MB)"], idle: figures["restart: idle RSS, 30 s (MB)"] } =
      await idleRss(server));
    figures["restart: peak RSS (MB)"] = memory(server.child.pid as number).peak;

    // kill -9 in the middle of a burst of writes.
    const email = `bench-${randomBytes(4).toString("hex")}@example.com`;
    const { token } = cli(target, dataDir, ["user", "create", "--email", email]);
    const { id: organizationId } = cli(target, dataDir, ["org", "create", "--title", "Bench", "--owner-email", email]);
    const mutation = `mutation ($o: ID!) { createLinkInvite(organizationId: $o, input: { role: READ }) { __typename } }`;
    let writing = true;
    const writers = Array.from({ length: 8 }, async () => {
      while (writing) await graphql(port, mutation, { o: organizationId }, token).catch(() => (writing = false));
    });
    await new Promise((r) => setTimeout(r, 1_500));
    server.child.kill("SIGKILL");
    await server.exited;
    writing = false;
    await Promise.allSettled(writers);
    port = await freePort();
    since = performance.now();
    server = spawnServer(target, port, { DATA_DIR: dataDir });
    figures["after kill -9: to /ready (ms)"] = await untilReady(server, since);
    figures["after kill -9: CPU to /ready (ms)"] = cpuMs(server.child.pid as number);
    await stop(server);

    // npm start on the unchanged checkout (a process group: npm, then node).
    port = await freePort();
    since = performance.now();
    server = spawnServer(target, port, { DATA_DIR: dataDir }, true);
    figures["npm start, unchanged: to /ready (ms)"] = await untilReady(server, since);
    process.kill(-(server.child.pid as number), "SIGTERM");
    await server.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }

  // PostgreSQL.
  const name = `igw_fc_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    const port = await freePort();
    const since = performance.now();
    const server = spawnServer(target, port, { DATABASE_URL: url.toString() });
    figures["PostgreSQL: to /ready (ms)"] = await untilReady(server, since);
    ({ early: figures["PostgreSQL: RSS 5 s after (MB)"], idle: figures["PostgreSQL: idle RSS, 30 s (MB)"] } =
      await idleRss(server));
    await stop(server);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
  return figures;
}

const GOALS: Record<string, string> = {
  "first start: to /ready (ms)": "≤ 2000",
  "first start: idle RSS, 30 s (MB)": "≤ 250",
  "first start: peak RSS (MB)": "≤ 350",
  "restart: to /ready (ms)": "≤ 1000",
  "restart: idle RSS, 30 s (MB)": "≤ 250",
  "after kill -9: to /ready (ms)": "≤ 3000",
  "npm start, unchanged: to /ready (ms)": "≤ 3000",
  "PostgreSQL: idle RSS, 30 s (MB)": "≤ 120",
};

const results = new Map<string, Figures[]>(targets.map((t) => [t.name, []]));
for (let run = 1; run <= RUNS; run++) {
  for (const target of targets) {
    const figures = await measure(target);
    results.get(target.name)?.push(figures);
    process.stderr.write(
      `run ${run} ${target.name}: ${JSON.stringify(figures, (_, v) => (typeof v === "number" ? Math.round(v) : v))}\n`,
    );
  }
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const fmt = (v: number | undefined) => (v === undefined ? "–" : String(Math.round(v)));
  return `${fmt(sorted[0])} / ${fmt(sorted[Math.floor(sorted.length / 2)])} / ${fmt(sorted.at(-1))}`;
};
const metrics = Object.keys(results.get("service")?.[0] ?? {});
/** Whether the service's median meets the figure's goal ("yes" / "NO"; empty without a goal). */
function met(metric: string): string {
  const limit = Number(GOALS[metric]?.replace("≤", "").trim());
  if (!GOALS[metric] || Number.isNaN(limit)) return "";
  const values = (results.get("service") ?? []).map((f) => f[metric] as number).sort((a, b) => a - b);
  return (values[Math.floor(values.length / 2)] ?? Number.POSITIVE_INFINITY) <= limit ? "yes" : "NO";
}
const lines = [
  `# First contact, ${new Date().toISOString().slice(0, 10)}`,
  "",
  `\`npm run bench:first-contact\`, ${RUNS} runs; min / median / max. Node ${process.version}, load average at the end ${tmpdirLoad()}.`,
  "",
  `| figure | ${targets.map((t) => t.name).join(" | ")} | goal | met (median) |`,
  `| --- | ${targets.map(() => "---").join(" | ")} | --- | --- |`,
  ...metrics.map(
    (m) =>
      `| ${m} | ${targets.map((t) => stats((results.get(t.name) ?? []).map((f) => f[m] as number))).join(" | ")} | ${GOALS[m] ?? ""} | ${met(m)} |`,
  ),
  "",
];
const table = lines.join("\n");
process.stdout.write(`${table}\n`);
if (process.env.BENCH_NO_WRITE !== "1") {
  const file = join(ROOT, "bench", "results", `first-contact-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(file, table);
  process.stderr.write(`wrote ${file}\n`);
}

function tmpdirLoad(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
