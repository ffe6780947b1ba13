/**
 * Composes this service's subgraph SDL (schema.graphql) with other subgraphs' SDL files into a
 * Federation v2 supergraph, offline (`@theguild/federation-composition`, no rover, no network):
 *
 *   npm run supergraph:compose -- [--out supergraph.graphql] [--url name=http://host/graphql ...] [[name=]other.graphql ...]
 *
 * With no files, the supergraph of this service alone. A file given as `name=path` is subgraph `name`,
 * otherwise its base name is (`content.graphql` -> `content`); this service is
 * `invites`. `--url name=...` sets the URL a gateway routes that subgraph's requests to (default for
 * `invites`: http://localhost:4000/graphql, for the others: none — give one, or the gateway's own
 * configuration must). Writes supergraph.graphql (or --out); on composition errors prints them and
 * exits 1 without writing.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type CompositionResult, composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";

export const OWN_SUBGRAPH = "invites";
export const OWN_SDL_PATH = fileURLToPath(new URL("../schema.graphql", import.meta.url));
const DEFAULT_OWN_URL = "http://localhost:4000/graphql";

export interface SubgraphFile {
  name: string;
  path: string;
  url?: string;
}

/** Composes schema.graphql (as `invites`) with `others`. Throws on unreadable or unparsable SDL. */
export function composeWithOwnSchema(others: SubgraphFile[], ownUrl = DEFAULT_OWN_URL): CompositionResult {
  const subgraphs: SubgraphFile[] = [{ name: OWN_SUBGRAPH, path: OWN_SDL_PATH, url: ownUrl }, ...others];
  const seen = new Set<string>();
  for (const s of subgraphs) {
    if (seen.has(s.name)) throw new Error(`two subgraphs named "${s.name}" (${s.path}): rename a file`);
    seen.add(s.name);
  }
  return composeServices(
    subgraphs.map((s) => {
      let typeDefs: ReturnType<typeof parse>;
      try {
        typeDefs = parse(readFileSync(s.path, "utf8"));
      } catch (error) {
        throw new Error(`${s.path}: ${error instanceof Error ? error.message : String(error)}`);
      }
      return { name: s.name, typeDefs, ...(s.url ? { url: s.url } : {}) };
    }),
  );
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run supergraph:compose -- [--out supergraph.graphql] [--url name=URL ...] [[name=]other-subgraph.graphql ...]\n`,
  );
  process.exit(2);
}

function main(argv: string[]): void {
  let out = "supergraph.graphql";
  const urls = new Map<string, string>();
  const files: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === "--out" || arg === "--url") {
      i += 1;
      const value = argv[i];
      if (!value) usage(`${arg} needs a value`);
      if (arg === "--out") out = value;
      else {
        const eq = value.indexOf("=");
        if (eq <= 0) usage(`--url takes name=URL, got "${value}"`);
        urls.set(value.slice(0, eq), value.slice(eq + 1));
      }
    } else if (arg.startsWith("--")) {
      usage(`unknown option ${arg}`);
    } else {
      files.push(arg);
    }
  }
  const others = files.map((arg) => {
    // `name=path`, or a path whose base name is the subgraph's name.
    const eq = arg.indexOf("=");
    const path = eq > 0 ? arg.slice(eq + 1) : arg;
    const name = eq > 0 ? arg.slice(0, eq) : basename(path, extname(path));
    return { name, path: resolve(path), url: urls.get(name) };
  });
  for (const name of urls.keys()) {
    if (name !== OWN_SUBGRAPH && !others.some((o) => o.name === name)) usage(`--url names no subgraph: ${name}`);
  }

  let result: CompositionResult;
  try {
    result = composeWithOwnSchema(others, urls.get(OWN_SUBGRAPH));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  if (result.errors) {
    process.stderr.write(`composition failed with ${result.errors.length} error(s):\n`);
    for (const error of result.errors) {
      const code = (error.extensions as { code?: string } | undefined)?.code;
      process.stderr.write(`  - ${code ? `[${code}] ` : ""}${error.message}\n`);
    }
    process.exit(1);
  }
  writeFileSync(out, result.supergraphSdl);
  const names = [OWN_SUBGRAPH, ...others.map((o) => o.name)].join(", ");
  process.stdout.write(`wrote ${out} (${Buffer.byteLength(result.supergraphSdl)} bytes; subgraphs: ${names})\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2));
}
