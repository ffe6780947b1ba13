/**
 * The README's "For frontend apps" set-ups for Apollo Client 4 and urql, as functions the client
 * tests call: the same shape as the copy-paste code, with the URL and the token passed in.
 */
import { readFileSync } from "node:fs";
import { ApolloClient, type ApolloLink, HttpLink, InMemoryCache, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { isSubscriptionOperation, relayStylePagination } from "@apollo/client/utilities";
import { cacheExchange, type Exchange, fetchExchange, subscriptionExchange, Client as UrqlClient } from "@urql/core";
import { buildSchema, isAbstractType } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

/** Apollo's `possibleTypes` (which types a union or an interface such as `Error` may be), from schema.graphql. */
export function possibleTypesFrom(sdl: string): Record<string, string[]> {
  const schema = buildSchema(sdl, { assumeValid: true });
  const map: Record<string, string[]> = {};
  for (const type of Object.values(schema.getTypeMap()))
    if (isAbstractType(type)) map[type.name] = schema.getPossibleTypes(type).map((t) => t.name);
  return map;
}

const possibleTypes = possibleTypesFrom(readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8"));

/** Apollo Client 4: HTTP for queries and mutations, graphql-ws for subscriptions, split by operation type. */
export function apolloClient(
  url: string,
  token: string,
  options: { persisted?: ApolloLink; fetch?: typeof fetch } = {},
) {
  const wsClient = createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const httpLink = new HttpLink({ uri: url, headers: { Authorization: `Bearer ${token}` }, fetch: options.fetch });
  const client = new ApolloClient({
    link: split(
      ({ query }) => isSubscriptionOperation(query),
      new GraphQLWsLink(wsClient),
      // With persisted documents, the hash link goes before the HTTP link.
      options.persisted ? options.persisted.concat(httpLink) : httpLink,
    ),
    cache: new InMemoryCache({
      possibleTypes,
      typePolicies: {
        // organization(id:) is the Organization with that id: answered from the cache once it is there.
        Query: {
          fields: {
            organization: (existing, { args, toReference }) =>
              existing !== undefined ? existing : toReference({ __typename: "Organization", id: args?.id }),
          },
        },
        Organization: {
          fields: {
            members: relayStylePagination(["role", "search", "orderBy"]),
            invites: relayStylePagination(["status"]),
            linkInvites: relayStylePagination(),
            auditLog: relayStylePagination(),
          },
        },
      },
    }),
  });
  return { client, wsClient };
}

/**
 * urql: fetchExchange for queries and mutations, subscriptionExchange over graphql-ws; with persisted
 * documents, persistedExchange (@urql/exchange-persisted) goes before the exchanges that send.
 */
export function urqlClient(url: string, token: string, options: { persisted?: Exchange; fetch?: typeof fetch } = {}) {
  const wsClient = createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const client = new UrqlClient({
    url,
    fetchOptions: () => ({ headers: { Authorization: `Bearer ${token}` } }),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    exchanges: [
      cacheExchange,
      ...(options.persisted ? [options.persisted] : []),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return { subscribe: (sink) => ({ unsubscribe: wsClient.subscribe(input, sink) }) };
        },
      }),
    ],
  });
  return { client, wsClient };
}
