import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The project's root: the nearest folder above this module that holds package.json. prisma/ (the
 * schema, the migrations, the embedded snapshot) is found from it. Not a fixed number of levels up:
 * from the sources this module is src/db/project-root.ts, in the bundle `npm run build` makes it is
 * part of dist/<name>.js.
 */
export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
