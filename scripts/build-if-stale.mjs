// `npm start`'s prestart: builds dist/ (`npm run build`) only when it is missing or older than its
// sources, so an unchanged checkout starts without paying for a build.
// Plain JavaScript: it runs before anything is compiled, in about 50 ms.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
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

const outputs = ["dist/server.js", "dist/cli.js"];
// Besides src/: how the bundle is made, and the installed packages (npm rewrites this file on install).
const inputs = ["tsconfig.json", "scripts/build.mjs", "node_modules/.package-lock.json"];

/** Why dist/ must be built, or null when it is up to date. */
function staleness() {
  const built = mtime(stamp);
  if (built === null) return "dist/ has not been built";
  for (const output of outputs) if (mtime(join(root, output)) === null) return `${output} is missing`;
  for (const input of inputs) if ((mtime(join(root, input)) ?? 0) > built) return `${input} changed`;
  for (const source of files(join(root, "src"))) {
    if ((mtime(source) ?? 0) > built) return `${relative(root, source)} changed`;
  }
  return null;
}

const reason = staleness();
if (reason) {
  process.stderr.write(`building dist/ (${reason})\n`);
  // npm run build writes the stamp.
  const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
