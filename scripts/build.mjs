// `npm run build`: bundles the server and the CLI into dist/ with esbuild (type-checking is `npm run
// typecheck`). One bundle instead of about 1,400 modules loaded one by one: importing the service's
// code costs a start about 0.4 s of CPU instead of 0.9 s (bench/results/first-contact-2026-12-04.md).
// `await import()`s stay lazy, as chunks beside the entries.
//
// Left outside the bundle, loaded from node_modules as before: packages that find files next to
// their own code (PGlite's WebAssembly and data, Prisma's runtime and engines), the OpenTelemetry
// SDK (its instrumentations patch modules as they are required), pino (its transports run in
// worker threads by file name), and pg, which @prisma/adapter-pg imports too: one copy for both.
// The entries stay at dist/<name>.js; prisma/ (the migrations, the snapshot) is found from the
// nearest package.json above the code (src/db/project-root.ts), from dist/ as from src/db/.
import { rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
// Another folder directly under the root (tests build the bundle beside dist/, not over it).
const outdir = process.argv[2] ?? "dist";
if (outdir.includes("/")) throw new Error("the output folder must be directly under the repository's root");

const started = new Date();
rmSync(join(root, outdir), { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/server.ts", "src/cli.ts"],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  // ES module builds first: esbuild reaches a CommonJS module's exports through getters, which cost
  // W2 about 18% of its CPU. And .mjs before .js, so that deep imports (graphql-armor's
  // `graphql/language/parser`) get the same graphql as everything else: with two, a syntax error is
  // a GraphQLError of the other copy, and a 500 (test/e2e/build.test.ts).
  mainFields: ["module", "main"],
  resolveExtensions: [".ts", ".mjs", ".js", ".cjs", ".json"],
  target: "node20",
  sourcemap: "linked",
  metafile: true,
  logLevel: "warning",
  external: ["@electric-sql/pglite", "pglite-prisma-adapter", "@prisma/*", "@opentelemetry/*", "pino", "pg"],
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: {
    js: [
      'import { createRequire as __igwCreateRequire } from "node:module";',
      "const require = __igwCreateRequire(import.meta.url);",
    ].join("\n"),
  },
});
// What went into each output (esbuild's metafile): for looking into the bundle's size.
writeFileSync(join(root, outdir, "meta.json"), JSON.stringify(result.metafile));
// For `npm start`'s freshness check (scripts/build-if-stale.mjs): the build's start, so a source saved
// while it ran makes the next start build again.
const stamp = join(root, outdir, ".build-stamp");
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
