// Preloaded with `node --import ./bench/idle/probe.mjs` by bench/measure-idle.ts (never by the service).
// On SIGUSR2 it writes to IDLE_PROBE_OUT: process.memoryUsage(), V8's heap and heap-space statistics,
// the WebAssembly memories still alive (held through WeakRefs, so the probe keeps none alive), the
// modules loaded (ESM through a load hook, CommonJS from require.cache); with --expose-gc, the same
// again after a full GC (the live heap). It forces nothing before the first snapshot.
import { writeFileSync } from "node:fs";
import module, { createRequire } from "node:module";
import v8 from "node:v8";
import { MessageChannel } from "node:worker_threads";

const out = process.env.IDLE_PROBE_OUT;
const esm = new Set();
const { port1, port2 } = new MessageChannel();
port1.on("message", (url) => esm.add(url));
port1.unref();
module.register("./probe-hooks.mjs", { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });

const memories = [];
const note = (instance) => {
  for (const value of Object.values(instance.exports)) {
    if (value instanceof WebAssembly.Memory) memories.push(new WeakRef(value));
  }
};
const { instantiate, Instance } = WebAssembly;
WebAssembly.instantiate = async function (...args) {
  const result = await instantiate.apply(this, args);
  note(result instanceof Instance ? result : result.instance);
  return result;
};
const instantiateStreaming = WebAssembly.instantiateStreaming;
if (instantiateStreaming) {
  WebAssembly.instantiateStreaming = async function (...args) {
    const result = await instantiateStreaming.apply(this, args);
    note(result.instance);
    return result;
  };
}
WebAssembly.Instance = new Proxy(Instance, {
  construct(target, args, newTarget) {
    const instance = Reflect.construct(target, args, newTarget);
    note(instance);
    return instance;
  },
});

const mb = (n) => Math.round((n / 1048576) * 10) / 10;
function snapshot() {
  const mem = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  return {
    memoryUsage: Object.fromEntries(Object.entries(mem).map(([k, v]) => [k, mb(v)])),
    heap: Object.fromEntries(Object.entries(heap).map(([k, v]) => [k, typeof v === "number" && v > 4096 ? mb(v) : v])),
    spaces: Object.fromEntries(
      v8
        .getHeapSpaceStatistics()
        .map((s) => [s.space_name, { committed: mb(s.physical_space_size), used: mb(s.space_used_size) }]),
    ),
    wasmMemories: memories
      .map((ref) => ref.deref())
      .filter(Boolean)
      .map((m) => mb(m.buffer.byteLength)),
  };
}

process.on("SIGUSR2", () => {
  const before = snapshot();
  let afterGc = null;
  if (typeof globalThis.gc === "function") {
    globalThis.gc();
    afterGc = snapshot();
  }
  const cjs = Object.keys(createRequire(import.meta.url).cache);
  writeFileSync(out, JSON.stringify({ before, afterGc, esm: [...esm], cjs }, null, 1));
});
