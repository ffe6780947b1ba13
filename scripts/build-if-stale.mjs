// `npm start`'s prestart: builds dist/ (`npm run build`) only when it is missing or older than its
// sources, so an unchanged checkout starts without paying a TypeScript build (about 6 s).
// Plain JavaScript: it runs before anything is compiled, in about 50 ms.
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const stamp = join(root, "dist", ".build-stamp");

/** Files under dir, recursively. */
function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
};

/** Why dist/ must be built, or null when it is up to date. */
function staleness() {
  const built = mtime(stamp);
  if (built === null) return "dist/ has not been built";
  for (const config of ["tsconfig.json", "tsconfig.build.json"]) {
    if ((mtime(join(root, config)) ?? 0) > built) return `${config} changed`;
  }
  for (const source of files(join(root, "src"))) {
    const changed = mtime(source) ?? 0;
    if (changed > built) return `${relative(root, source)} changed`;
    if (source.endsWith(".ts") && !source.endsWith(".d.ts")) {
      const output = join(root, "dist", relative(join(root, "src"), source)).replace(/\.ts$/, ".js");
      if (mtime(output) === null) {
        // An incremental build only writes what changed: without its build info it writes everything.
        rmSync(join(root, "dist", ".tsbuildinfo"), { force: true });
        return `${relative(root, output)} is missing`;
      }
    }
  }
  return null;
}

const reason = staleness();
if (reason) {
  process.stderr.write(`building dist/ (${reason})\n`);
  const started = Date.now();
  const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  if (build.status !== 0) process.exit(build.status ?? 1);
  // The stamp's time is the build's start: a source saved during the build makes the next start build again.
  writeFileSync(stamp, `${new Date(started).toISOString()}\n`);
  utimesSync(stamp, new Date(started), new Date(started));
}
