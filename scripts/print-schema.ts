/**
 * Prints the schema to schema.graphql (`npm run schema:print`), or with --check fails when the
 * committed file differs from what the code builds (`npm run schema:check`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { graphql } from "graphql";
import { schema } from "../src/graphql/schema/index.js";

const target = fileURLToPath(new URL("../schema.graphql", import.meta.url));
// Exactly the subgraph SDL the service serves at `_service { sdl }` (federation directives
// included): what a gateway composes.
const result = await graphql({ schema, source: "{ _service { sdl } }" });
const sdl = (result.data?._service as { sdl?: string } | undefined)?.sdl;
if (!sdl) throw new Error(`could not read _service { sdl }: ${JSON.stringify(result.errors)}`);
const printed = `${sdl.trimEnd()}\n`;

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(target, "utf8");
  } catch {
    // missing file = drift
  }
  if (committed !== printed) {
    console.error("schema.graphql is out of date with the code: run `npm run schema:print` and commit it.");
    process.exit(1);
  }
  console.log("schema.graphql matches the code.");
} else {
  writeFileSync(target, printed);
  console.log(`wrote ${target}`);
}
