/**
 * Prints the schema to schema.graphql (`npm run schema:print`), or with --check fails when the
 * committed file differs from what the code builds (`npm run schema:check`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { printSubgraphSchema } from "@apollo/subgraph";
import { schema } from "../src/schema/index.js";

const target = fileURLToPath(new URL("../schema.graphql", import.meta.url));
// The subgraph SDL, federation directives included: what a gateway composes.
const printed = `${printSubgraphSchema(schema).trimEnd()}\n`;

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
