import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSchema, type GraphQLObjectType, parse } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeWithOwnSchema } from "../../scripts/compose-supergraph.js";
import { useTestApp } from "../helpers/app.js";
import { type CliResult, runEntryProcess } from "../helpers/process.js";
import { CONTENT_SDL, type ContentSubgraph, startContentSubgraph } from "./content-subgraph.js";
import { committedSdl, composeSupergraph, fetchSubgraphSdl, serveInvitesSubgraph } from "./helpers.js";

describe("composition with a content subgraph", () => {
  // The SDL does not depend on the database: the PGlite leg is enough.
  const app = useTestApp("pglite");
  let invites: { url: string; close(): Promise<void> };
  let content: ContentSubgraph;
  let invitesSdl: string;
  let contentSdl: string;

  beforeAll(async () => {
    [invites, content] = await Promise.all([serveInvitesSubgraph(app.current.yoga), startContentSubgraph()]);
    [invitesSdl, contentSdl] = await Promise.all([fetchSubgraphSdl(invites.url), fetchSubgraphSdl(content.url)]);
  });
  afterAll(async () => {
    await Promise.all([invites?.close(), content?.close()]);
  });

  it("serves schema.graphql byte for byte as its _service { sdl }", () => {
    expect(invitesSdl.trimEnd()).toBe(committedSdl().trimEnd());
  });

  it("composes with no errors, joining Organization, Space and Collection across both subgraphs", () => {
    const results = [invitesSdl, committedSdl()].map((sdl) =>
      composeSupergraph({ invites: { sdl, url: invites.url }, content: { sdl: contentSdl, url: content.url } }),
    );
    // From the live SDL or from schema.graphql: the same supergraph.
    expect(results[0]?.supergraphSdl).toBe(results[1]?.supergraphSdl);
    for (const result of results) {
      expect(result.errors?.map((e) => e.message)).toBeUndefined();
      const supergraphSdl = result.supergraphSdl as string;
      console.log(
        `[federation] supergraph SDL: ${Buffer.byteLength(supergraphSdl)} bytes; public API SDL: ${Buffer.byteLength(
          result.publicSdl as string,
        )} bytes`,
      );

      // Ownership as the gateway reads it: join__type per subgraph, join__field per field.
      const supergraph = parse(supergraphSdl);
      const typeDef = (name: string) => {
        const def = supergraph.definitions.find((d) => "name" in d && d.name?.value === name);
        if (!def || !("fields" in def)) throw new Error(`no type ${name} in the supergraph`);
        return def;
      };
      const joinTypes = (name: string) =>
        (typeDef(name).directives ?? [])
          .filter((d) => d.name.value === "join__type")
          .map((d) =>
            Object.fromEntries(
              (d.arguments ?? []).map((a) => [a.name.value, "value" in a.value ? a.value.value : undefined]),
            ),
          );
      /** The subgraphs that resolve a field: its join__field graphs, or its type's only subgraph. */
      const fieldGraphs = (type: string, field: string) => {
        const def = (
          typeDef(type).fields as ReadonlyArray<{ name: { value: string }; directives?: readonly any[] }>
        ).find((f) => f.name.value === field);
        if (!def) throw new Error(`no field ${type}.${field} in the supergraph`);
        const joined = (def.directives ?? [])
          .filter((d) => d.name.value === "join__field")
          .map((d) => d.arguments.find((a: any) => a.name.value === "graph")?.value.value);
        return joined.length > 0 ? joined : joinTypes(type).map((j) => j.graph);
      };

      expect(joinTypes("Organization")).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ graph: "INVITES", key: "id" }),
          expect.objectContaining({ graph: "CONTENT", key: "id" }),
        ]),
      );
      expect(fieldGraphs("Organization", "title")).toEqual(["INVITES"]);
      expect(fieldGraphs("Organization", "spaces")).toEqual(["CONTENT"]);
      // Our Space/Collection are key-only references; content resolves them.
      expect(joinTypes("Space")).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ graph: "INVITES", key: "id", resolvable: false }),
          expect.objectContaining({ graph: "CONTENT", key: "id" }),
        ]),
      );
      expect(joinTypes("Space").find((j) => j.graph === "CONTENT")?.resolvable).not.toBe(false);
      expect(fieldGraphs("Space", "name")).toEqual(["CONTENT"]);
      expect(fieldGraphs("LinkInvite", "space")).toEqual(["INVITES"]);

      // The API a client sees.
      const api = buildSchema(result.publicSdl as string);
      const fields = (name: string) => (api.getType(name) as GraphQLObjectType).getFields();
      expect(String(fields("Organization").title?.type)).toBe("String!");
      expect(String(fields("Organization").spaces?.type)).toBe("[Space!]!");
      expect(String(fields("LinkInvite").space?.type)).toBe("Space");
      expect(String(fields("LinkInvite").collection?.type)).toBe("Collection");
      expect(Object.keys(fields("Space"))).toEqual(expect.arrayContaining(["id", "name", "organization"]));
      expect(Object.keys(fields("Collection"))).toEqual(expect.arrayContaining(["id", "title"]));
      expect(Object.keys(fields("Query"))).toEqual(
        expect.arrayContaining(["viewer", "organization", "linkInvitePreview", "spaces", "space"]),
      );
      // Federation internals stay out of the client API.
      expect(fields("Query")._entities).toBeUndefined();
      expect(fields("Query")._service).toBeUndefined();
    }
  });

  describe("npm run supergraph:compose (scripts/compose-supergraph.ts)", () => {
    const dir = mkdtempSync(join(tmpdir(), "igw-compose-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const runScript = (args: string[]) => runEntryProcess("scripts/compose-supergraph.ts", args, {});

    // The two runs start together: each is a tsx process (a few seconds on a slow machine).
    const good = { file: join(dir, "content.graphql"), out: join(dir, "supergraph.graphql") };
    const bad = { file: join(dir, "broken.graphql"), out: join(dir, "broken-supergraph.graphql") };
    let runs: Promise<[CliResult, CliResult]>;
    beforeAll(() => {
      writeFileSync(good.file, CONTENT_SDL);
      // Another subgraph that also resolves Organization.title (not @shareable in ours) with another type.
      writeFileSync(
        bad.file,
        `extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
         type Organization @key(fields: "id") { id: ID! title: Int! }
         type Query { titles: [Organization!]! }`,
      );
      runs = Promise.all([
        runScript(["--out", good.out, "--url", "content=http://content.internal/graphql", good.file]),
        runScript(["--out", bad.out, bad.file]),
      ]);
    });

    it("writes supergraph.graphql from schema.graphql and the given SDL files", async () => {
      const [run] = await runs;
      const { file, out } = good;
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^wrote .*supergraph\.graphql \(\d+ bytes; subgraphs: invites, content\)\n$/);
      const written = readFileSync(out, "utf8");
      expect(written).toContain('join__graph(name: "content", url: "http://content.internal/graphql")');
      expect(written).toContain('join__graph(name: "invites", url: "http://localhost:4000/graphql")');
      // The same supergraph as composing in-process.
      expect(written).toBe(
        composeWithOwnSchema([{ name: "content", path: file, url: "http://content.internal/graphql" }]).supergraphSdl,
      );
    });

    it("exits 1 with the composition errors, writing nothing", async () => {
      const [, run] = await runs;
      const out = bad.out;
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^composition failed with \d+ error\(s\):/);
      expect(run.stderr).toContain("Organization.title");
      expect(() => readFileSync(out)).toThrow();
    });
  });
});
