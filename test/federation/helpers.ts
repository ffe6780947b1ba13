import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";
import type { Yoga } from "../../src/http/yoga.js";
import { closeServer } from "./content-subgraph.js";

export const INVITES = "invites";
export const CONTENT = "content";

/** The committed subgraph SDL (schema.graphql at the repository root). */
export function committedSdl(): string {
  return readFileSync(fileURLToPath(new URL("../../schema.graphql", import.meta.url)), "utf8");
}

/** Our real GraphQL handler (and its test database) on 127.0.0.1, on a port of its own. */
export async function serveInvitesSubgraph(yoga: Yoga): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(yoga);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/graphql`, close: () => closeServer(server) };
}

/** `{ _service { sdl } }` from a running subgraph, over HTTP, anonymously. */
export async function fetchSubgraphSdl(url: string): Promise<string> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ _service { sdl } }" }),
  });
  const body = (await response.json()) as { data?: { _service?: { sdl?: string } }; errors?: unknown };
  if (response.status !== 200 || !body.data?._service?.sdl) {
    throw new Error(`_service { sdl } failed at ${url}: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.data._service.sdl;
}

/** Composes the two subgraphs; the URLs become the supergraph's join__graph urls. */
export function composeSupergraph(subgraphs: {
  invites: { sdl: string; url: string };
  content: { sdl: string; url: string };
}) {
  return composeServices([
    { name: INVITES, typeDefs: parse(subgraphs.invites.sdl), url: subgraphs.invites.url },
    { name: CONTENT, typeDefs: parse(subgraphs.content.sdl), url: subgraphs.content.url },
  ]);
}
