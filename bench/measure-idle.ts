/**
 * Idle memory of the built service (`npm run build` first), as `npm start` runs it:
 *
 *   npx tsx bench/measure-idle.ts [--runs 3] [--idle 45] [--probe] [--gc] [--label text] [--entry dist/server.js]
 *     [-- node flags]
 *
 * Starts `node --liftoff-only --max-old-space-size=1024 <flags> dist/server.js` with the environment
 * it is given (DATABASE_URL, or DATA_DIR for the embedded PGlite; AUTO_MIGRATE etc. as you set them),
 * waits for /ready, sends a few requests (GraphQL with and without an unknown bearer token, which
 * makes Prisma compile and run the token lookup; /health, /metrics), waits --idle seconds, and reads
 * /proc/<pid>/smaps_rollup (Rss, Pss_Anon, Pss_File), VmHWM and a split of /proc/<pid>/smaps. It forces
 * nothing. With --probe the server is preloaded with bench/idle/probe.mjs, and after the reading it is
 * sent SIGUSR2 for V8's heap statistics, the WebAssembly memories alive and the modules loaded (the
 * probe's module hooks run on a thread of their own: read RSS from runs without --probe); --gc adds
 * --expose-gc so that the probe also reports the live heap after a full GC. Prints one JSON line per run
 * and a summary.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./common.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const opts = dash >= 0 ? argv.slice(0, dash) : argv;
const extraFlags = dash >= 0 ? argv.slice(dash + 1) : [];
const opt = (name: string) => {
  const i = opts.indexOf(name);
  return i >= 0 ? opts[i + 1] : undefined;
};
const RUNS = Number(opt("--runs") ?? 1);
const IDLE_S = Number(opt("--idle") ?? 45);
const PROBE = opts.includes("--probe");
const GC = opts.includes("--gc");
const LABEL = opt("--label") ?? "";
/** Another build of the service to run, e.g. a copy of dist/ made before a change (default dist/server.js). */
const ENTRY = opt("--entry") ?? "dist/server.js";
const START_FLAGS = ["--liftoff-only", "--max-old-space-size=1024"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number) => Math.round(kb / 102.4) / 10;

/** smaps_rollup's fields in MB. */
function rollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").split("\n")) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m?.[1]) out[m[1]] = mb(Number(m[2]));
  }
  return out;
}

function status(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? mb(Number(m[1])) : Number.NaN;
}

/**
 * Rss of /proc/<pid>/smaps split by mapping: the node binary, other files (shared libraries), the
 * brk heap, WebAssembly memories (an anonymous read-write mapping directly followed by an inaccessible
 * reservation of 1 GB or more: a wasm memory and its guard region), 64 MB anonymous mappings (malloc
 * thread arenas), stacks, the rest anonymous (V8's heap pages and code range, mmapped malloc chunks, ...).
 */
function split(pid: number): Record<string, number> {
  type Mapping = { start: number; end: number; perms: string; name: string; rss: number };
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const [, start = "", end = "", perms = "", name = ""] = head;
      maps.push({ start: Number.parseInt(start, 16), end: Number.parseInt(end, 16), perms, name, rss: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    const last = maps.at(-1);
    if (rss && last) last.rss = Number(rss[1]);
  }
  const parts: Record<string, number> = {};
  const add = (key: string, kb: number) => {
    parts[key] = (parts[key] ?? 0) + kb;
  };
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    const size = (m.end - m.start) / 1024;
    if (m.name.endsWith("/node")) add("node binary", m.rss);
    else if (m.name === "[heap]") add("brk heap", m.rss);
    else if (m.name.startsWith("[stack")) add("stacks", m.rss);
    else if (m.name.startsWith("/")) add("other files", m.rss);
    else if (m.name.startsWith("[")) add("other", m.rss);
    else if (
      next &&
      next.start === m.end &&
      next.perms === "---p" &&
      next.name === "" &&
      next.end - next.start >= 2 ** 30
    )
      add("wasm memories", m.rss);
    else if (size === 65536 || size === 131072) add("64/128 MB anonymous maps", m.rss);
    else add("other anonymous", m.rss);
  });
  return Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, mb(v)]));
}

async function request(base: string, init?: RequestInit & { path?: string }): Promise<number> {
  const res = await fetch(`${base}${init?.path ?? "/graphql"}`, init);
  await res.arrayBuffer();
  return res.status;
}

async function run(i: number) {
  const port = await freePort();
  const probeOut = path.join(os.tmpdir(), `idle-probe-${process.pid}-${i}.json`);
  const flags = [
    ...START_FLAGS,
    // Its lines tell whether V8's memory reducer ran ("Mark-Compact (reduce)") before the reading: it
    // gives back most of the young generation (~28 MB) some 20-40 s into an idle period, or not.
    "--trace-gc",
    ...extraFlags,
    ...(GC ? ["--expose-gc"] : []),
    ...(PROBE ? ["--import", path.join(root, "bench/idle/probe.mjs")] : []),
  ];
  const started = Date.now();
  const child = spawn(process.execPath, [...flags, ENTRY], {
    cwd: root,
    env: { LOG_LEVEL: "warn", ...process.env, PORT: String(port), IDLE_PROBE_OUT: probeOut },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let markCompacts = 0;
  let reducing = 0;
  child.stdout?.setEncoding("utf8").on("data", (text: string) => {
    for (const line of text.split("\n")) {
      if (line.includes("Mark-Compact (reduce)")) reducing++;
      else if (line.includes("Mark-Compact")) markCompacts++;
      else if (line.trim() && !line.includes("Scavenge")) process.stdout.write(`${line}\n`);
    }
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      const ok = await request(base, { path: "/ready" }).catch(() => 0);
      if (ok === 200) break;
      if (Date.now() - started > 180_000) throw new Error("not ready after 180 s");
      await sleep(100);
    }
    const readyMs = Date.now() - started;
    const gql = (query: string, headers: Record<string, string> = {}) =>
      request(base, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query }),
      });
    const statuses = [
      await request(base, { path: "/health" }),
      await gql("{ __typename }"),
      await gql("{ viewer { id email } }"),
      await gql("{ viewer { id } }", { authorization: "Bearer igw_not_a_token_of_this_database" }),
      await gql("{ viewer { id } }", { authorization: "Bearer igw_not_a_token_of_this_database_either" }),
      await request(base, { path: "/metrics" }),
    ];
    await sleep(IDLE_S * 1000);
    const pid = child.pid as number;
    const result: Record<string, unknown> = {
      label: LABEL,
      readyMs,
      statuses: statuses.join(","),
      rss: status(pid, "VmRSS"),
      hwm: status(pid, "VmHWM"),
      markCompacts,
      reducing,
      ...pick(rollup(pid), ["Pss_Anon", "Pss_File"]),
      split: split(pid),
    };
    if (PROBE) {
      child.kill("SIGUSR2");
      for (let t = 0; t < 100; t++) {
        await sleep(100);
        try {
          if (statSync(probeOut).size > 0) break;
        } catch {}
      }
      await sleep(200);
      const probe = JSON.parse(readFileSync(probeOut, "utf8"));
      rmSync(probeOut, { force: true });
      result.probe = probe;
    }
    return result;
  } finally {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

function pick(o: Record<string, number>, keys: string[]) {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

const results = [];
for (let i = 0; i < RUNS; i++) {
  const r = await run(i);
  results.push(r);
  const { probe, ...rest } = r as { probe?: unknown };
  console.log(JSON.stringify(rest));
  if (probe && process.env.IDLE_PROBE_SAVE) {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${process.env.IDLE_PROBE_SAVE}.${i}.json`, JSON.stringify(probe, null, 1));
  }
  if (probe) {
    const p = probe as {
      before: Record<string, unknown>;
      afterGc: Record<string, unknown> | null;
      esm: string[];
      cjs: string[];
    };
    console.log(
      JSON.stringify({ memoryUsage: p.before.memoryUsage, spaces: p.before.spaces, wasm: p.before.wasmMemories }),
    );
    if (p.afterGc) console.log(JSON.stringify({ afterGc: p.afterGc.memoryUsage, wasm: p.afterGc.wasmMemories }));
    console.log(`modules: ${p.esm.length} ESM, ${p.cjs.length} CommonJS`);
  }
}
const rss = results.map((r) => r.rss as number);
console.log(`${LABEL}: RSS ${rss.join(" / ")} MB (min ${Math.min(...rss)}, max ${Math.max(...rss)})`);
