/**
 * A second Apollo Federation v2 subgraph for the federation tests: a "content" service that owns
 * `Space` and `Collection` (which our subgraph only references, key-only) and adds `spaces` to our
 * `Organization`. Its data lives in memory; each test fills it. It listens on 127.0.0.1 only.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import { createYoga } from "graphql-yoga";

export const CONTENT_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])

  type Space @key(fields: "id") {
    id: ID!
    name: String!
    "The organization the space belongs to: resolved by the subgraph that owns organizations."
    organization: Organization
  }

  type Collection @key(fields: "id") {
    id: ID!
    title: String!
  }

  "Owned by the invites subgraph; this subgraph adds the organization's spaces."
  type Organization @key(fields: "id") {
    id: ID!
    spaces: [Space!]!
  }

  type Query {
    spaces: [Space!]!
    space(id: ID!): Space
  }
`;

export interface SpaceRecord {
  id: string;
  name: string;
  organizationId: string | null;
}

export interface CollectionRecord {
  id: string;
  title: string;
}

export interface ContentSubgraph {
  /** http://127.0.0.1:<port>/graphql */
  url: string;
  spaces: Map<string, SpaceRecord>;
  collections: Map<string, CollectionRecord>;
  /** Every Authorization header this subgraph received, in order (to check the gateway forwards it). */
  authorizationHeaders: Array<string | null>;
  addSpace(space: SpaceRecord): SpaceRecord;
  close(): Promise<void>;
}

export async function startContentSubgraph(): Promise<ContentSubgraph> {
  const spaces = new Map<string, SpaceRecord>();
  const collections = new Map<string, CollectionRecord>();
  const authorizationHeaders: Array<string | null> = [];

  const spaceOut = (s: SpaceRecord) => ({ ...s });
  const schema = buildSubgraphSchema({
    typeDefs: parse(CONTENT_SDL),
    resolvers: {
      Query: {
        spaces: () => [...spaces.values()].map(spaceOut),
        space: (_root: unknown, args: { id: string }) => {
          const space = spaces.get(args.id);
          return space ? spaceOut(space) : null;
        },
      },
      Space: {
        __resolveReference: (ref: { id: string }) => {
          const space = spaces.get(ref.id);
          return space ? spaceOut(space) : null;
        },
        organization: (space: SpaceRecord) => (space.organizationId ? { id: space.organizationId } : null),
      },
      Collection: {
        __resolveReference: (ref: { id: string }) => collections.get(ref.id) ?? null,
      },
      Organization: {
        __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
        spaces: (org: { id: string }) => [...spaces.values()].filter((s) => s.organizationId === org.id).map(spaceOut),
      },
    } as any,
  });

  const yoga = createYoga({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    graphiql: false,
    logging: false,
    context: ({ request }) => {
      authorizationHeaders.push(request.headers.get("authorization"));
      return {};
    },
  });
  const server: Server = createServer(yoga);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/graphql`,
    spaces,
    collections,
    authorizationHeaders,
    addSpace(space) {
      spaces.set(space.id, space);
      return space;
    },
    close: () => closeServer(server),
  };
}

/** Closes a server, keep-alive connections included. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
