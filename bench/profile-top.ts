/**
 * Top frames of a `node --cpu-prof` profile by self time, and self time by package.
 *
 *   BENCH_ONLY=W2 BENCH_ROUNDS=1 BENCH_CPU_PROF=/tmp/prof npm run bench
 *   npx tsx bench/profile-top.ts /tmp/prof/CPU.*.0.001.cpuprofile [--window 10] [--top 30]
 *
 * `--window N` keeps the N seconds with the most busy samples (the measured run, without the start-up
 * and the time the server idled while the floor was measured); `--top` how many frames to list.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { window: { type: "string" }, top: { type: "string", default: "30" } },
});
const file = positionals[0];
if (!file) {
  process.stderr.write("usage: tsx bench/profile-top.ts <file.cpuprofile> [--window seconds] [--top n]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));

// Sample times (µs from the start); sample i lasted timeDeltas[i + 1].
const times: number[] = [];
let t = 0;
for (const delta of profile.timeDeltas) {
  t += delta;
  times.push(t);
}
const isIdle = (i: number) => nodes.get(profile.samples[i] as number)?.callFrame.functionName === "(idle)";
const duration = (i: number) => profile.timeDeltas[i + 1] ?? 0;

/** The [from, to] sample range of the `seconds`-long window with the most busy time (all without a window). */
function busiestWindow(seconds: number | undefined): [number, number] {
  if (!seconds) return [0, times.length - 1];
  let best: [number, number] = [0, 0];
  let bestBusy = -1;
  let busy = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    if (!isIdle(end)) busy += duration(end);
    while ((times[end] as number) - (times[start] as number) > seconds * 1e6) {
      if (!isIdle(start)) busy -= duration(start);
      start++;
    }
    if (busy > bestBusy) {
      bestBusy = busy;
      best = [start, end];
    }
  }
  return best;
}
const [from, to] = busiestWindow(values.window ? Number(values.window) : undefined);

function frameName(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, "");
  const short = url.includes("node_modules/")
    ? url.slice(url.lastIndexOf("node_modules/") + "node_modules/".length)
    : url.replace(/^.*?\/(src|bench)\//, "$1/");
  return `${frame.functionName || "(anonymous)"} ${short ? `${short}:${frame.lineNumber + 1}` : ""}`.trim();
}

function packageOf(frame: CallFrame): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  if (url.startsWith("node:")) return "node: (core)";
  const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] as string;
  if (url.includes("/src/generated/")) return "src/generated (Prisma client)";
  if (url.includes("/src/")) return "src (ours)";
  return url;
}

const byFrame = new Map<string, number>();
const byPackage = new Map<string, number>();
let total = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  if (i < from || i > to) return;
  const delta = duration(i);
  const frame = (nodes.get(id) as ProfileNode).callFrame;
  if (frame.functionName === "(idle)") {
    idle += delta;
    return;
  }
  total += delta;
  const name = frameName(frame);
  byFrame.set(name, (byFrame.get(name) ?? 0) + delta);
  const pkg = packageOf(frame);
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta);
});

const top = Number(values.top);
const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)} %`;
const ms = (v: number) => `${(v / 1000).toFixed(0).padStart(7)} ms`;
process.stdout.write(
  `busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s${values.window ? ` (busiest ${values.window} s)` : ""}\n\n`,
);
process.stdout.write("self time by frame\n");
for (const [name, v] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`${ms(v)} ${pct(v)}  ${name}\n`);
}
process.stdout.write("\nself time by package\n");
for (const [name, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`${ms(v)} ${pct(v)}  ${name}\n`);
}
