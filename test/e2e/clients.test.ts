/**
 * Real clients against a real server: Apollo Client 4 (core, no React) and urql run the README's
 * tour (a query, mutations, a list paged by cursor, a subscription over graphql-ws, errors from
 * union results and from top-level `extensions.code`) and persisted documents by hash, with the
 * set-ups of the README's "For frontend apps" (test/helpers/clients.ts).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CombinedGraphQLErrors, gql, type TypedDocumentNode } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { persistedExchange } from "@urql/exchange-persisted";
import { type DocumentNode, parse } from "graphql";
import { type ConcreteRequest, Environment, fetchQuery, Network, RecordSource, Store } from "relay-runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserWithToken } from "../../src/domain/users.js";
import type { RunningServer } from "../../src/server.js";
import { uniqueEmail } from "../helpers/app.js";
import { apolloClient, urqlClient } from "../helpers/clients.js";
import { DB_KINDS } from "../helpers/db.js";
import { startTestServer } from "../helpers/server.js";
import { until } from "../helpers/wait.js";

// Untyped here; in an app, codegen's client preset types each document.
type Doc = TypedDocumentNode<any, any>;

const CREATE_ORGANIZATION: Doc = gql`
  mutation CreateOrganization($title: String!) {
    createOrganization(input: { title: $title }) {
      ... on CreateOrganizationSuccess { organization { id title viewerRole } }
      ... on Error { code message }
    }
  }
`;
const INVITE: Doc = gql`
  mutation Invite($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails, role: READ }) {
      ... on InviteUsersToOrganizationSuccess { invited invites { id email role status } }
      ... on Error { code message }
    }
  }
`;
const INVITES_PAGE: Doc = gql`
  query Invites($o: ID!, $after: String) {
    organization(id: $o) {
      id
      invites(first: 2, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id email } }
      }
    }
  }
`;
const MEMBERS: Doc = gql`
  query Members($o: ID!) {
    organization(id: $o) { id members(first: 10) { edges { node { id role user { id } } } } }
  }
`;
const UPDATE_ROLE: Doc = gql`
  mutation UpdateRole($o: ID!, $u: ID!) {
    updateMemberRole(organizationId: $o, userId: $u, role: EDIT) {
      ... on UpdateMemberRoleSuccess { member { id role } }
      ... on Error { code message }
    }
  }
`;
const VIEWER: Doc = gql`query Viewer { viewer { id email } }`;
const ORGANIZATION: Doc = gql`query Organization($o: ID!) { organization(id: $o) { id title } }`;
const EVENTS: Doc = gql`
  subscription Events($o: ID!) {
    organizationEvents(organizationId: $o) { id action targetId actor { id } }
  }
`;

/**
 * What Relay's compiler produces for `graphql\`query ClientsRelayViewerQuery { viewer { email } }\``
 * with `persistConfig: { file, algorithm: "MD5" }`: an artifact whose `params` carry the id and no
 * text (the compiler adds `id` to the selection), and a manifest `{ "<md5 of the text>": "<text>" }`.
 * Written out here as the compiler writes them (its binary is not part of this project).
 */
const RELAY_TEXT = "query ClientsRelayViewerQuery {\n  viewer {\n    email\n    id\n  }\n}\n";
const RELAY_ID = createHash("md5").update(RELAY_TEXT).digest("hex");
const relaySelections = [
  {
    alias: null,
    args: null,
    concreteType: "User",
    kind: "LinkedField",
    name: "viewer",
    plural: false,
    selections: [
      { alias: null, args: null, kind: "ScalarField", name: "email", storageKey: null },
      { alias: null, args: null, kind: "ScalarField", name: "id", storageKey: null },
    ],
    storageKey: null,
  },
] as const;
const RELAY_VIEWER_QUERY = {
  fragment: {
    argumentDefinitions: [],
    kind: "Fragment",
    metadata: null,
    name: "ClientsRelayViewerQuery",
    selections: relaySelections,
    type: "Query",
    abstractKey: null,
  },
  kind: "Request",
  operation: {
    argumentDefinitions: [],
    kind: "Operation",
    name: "ClientsRelayViewerQuery",
    selections: relaySelections,
  },
  params: { id: RELAY_ID, metadata: {}, name: "ClientsRelayViewerQuery", operationKind: "query", text: null },
} as unknown as ConcreteRequest;
let relayManifestPath = "";

/**
 * What a front end's build produces: GraphQL Codegen's client preset with persisted documents writes
 * persisted-documents.json and embeds each document's hash as `__meta__.hash`; its
 * addTypenameSelectionDocumentTransform puts `__typename` in the documents (the cache needs it,
 * and the server runs the manifest's text, not the client's).
 */
const generated: Record<string, DocumentNode & { __meta__: { hash: string } }> = {};
let manifestPath = "";
beforeAll(async () => {
  const { generate } = await import("@graphql-codegen/cli");
  const { addTypenameSelectionDocumentTransform } = await import("@graphql-codegen/client-preset");
  const dir = mkdtempSync(join(tmpdir(), "igw-clients-"));
  writeFileSync(join(dir, "viewer.graphql"), "query Viewer { viewer { id email } }\n");
  await generate(
    {
      schema: join(process.cwd(), "schema.graphql"),
      documents: join(dir, "*.graphql"),
      silent: true,
      generates: {
        [join(dir, "gql/")]: {
          preset: "client",
          presetConfig: { persistedDocuments: true },
          documentTransforms: [addTypenameSelectionDocumentTransform],
        },
      },
    },
    true,
  );
  manifestPath = join(dir, "gql", "persisted-documents.json");
  relayManifestPath = join(dir, "relay-persisted-queries.json");
  writeFileSync(relayManifestPath, JSON.stringify({ [RELAY_ID]: RELAY_TEXT }));
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, string>;
  for (const [hash, text] of Object.entries(manifest)) {
    const document = parse(text);
    const name = document.definitions[0]?.kind === "OperationDefinition" ? document.definitions[0].name?.value : "";
    generated[name as string] = Object.assign(document, { __meta__: { hash } });
  }
}, 60_000);

describe.each(DB_KINDS)("real clients against a real server (%s)", (kind) => {
  let running: RunningServer;
  let url: string;
  let enforced: { url: string; user(): Promise<string> };
  const disposers: Array<() => unknown> = [];

  const user = async (prefix: string) => {
    const { user, token } = await createUserWithToken(running.database.prisma, { email: uniqueEmail(prefix) });
    return { id: user.id, email: user.email as string, token };
  };

  beforeAll(async () => {
    running = await startTestServer(kind, { OUTBOX_POLL_INTERVAL: "100ms" });
    url = `${running.url}/graphql`;
    // A second server that runs only the manifest's documents: codegen's manifest and Relay's, side by side.
    const strict = await startTestServer(kind, {
      PERSISTED_DOCUMENTS: `${manifestPath},${relayManifestPath}`,
      PERSISTED_DOCUMENTS_MODE: "enforce",
    });
    disposers.push(() => strict.close());
    enforced = {
      url: `${strict.url}/graphql`,
      user: async () => (await createUserWithToken(strict.database.prisma, { email: uniqueEmail("trusted") })).token,
    };
  });
  afterAll(async () => {
    for (const dispose of disposers) await dispose();
    await running?.close();
  });

  const apollo = (token: string) => {
    const made = apolloClient(url, token);
    disposers.push(
      () => made.client.stop(),
      () => made.wsClient.dispose(),
    );
    return made.client;
  };

  const urql = (token: string) => {
    const made = urqlClient(url, token);
    disposers.push(() => made.wsClient.dispose());
    return made.client;
  };

  describe("Apollo Client 4", () => {
    it("runs a query, the tour's mutations, and reads errors from union results", async () => {
      const alice = await user("apollo");
      const client = apollo(alice.token);
      expect((await client.query({ query: VIEWER })).data).toEqual({
        viewer: { __typename: "User", id: alice.id, email: alice.email },
      });
      const created = await client.mutate({ mutation: CREATE_ORGANIZATION, variables: { title: "Acme" } });
      const organization = created.data.createOrganization.organization;
      expect(organization).toMatchObject({ __typename: "Organization", title: "Acme", viewerRole: "ADMIN" });
      // The organization is normalised: a query for it is answered from the cache.
      expect(client.cache.identify(organization)).toBe(`Organization:${organization.id}`);
      const cached = await client.query({
        query: ORGANIZATION,
        variables: { o: organization.id },
        fetchPolicy: "cache-only",
      });
      expect(cached.data).toEqual({ organization: { __typename: "Organization", id: organization.id, title: "Acme" } });

      const invited = await client.mutate({
        mutation: INVITE,
        variables: { o: organization.id, emails: [uniqueEmail("apollo-bob")] },
      });
      expect(invited.data.inviteUsersToOrganization).toMatchObject({
        __typename: "InviteUsersToOrganizationSuccess",
        invited: 1,
        invites: [{ __typename: "Invite", role: "READ", status: "PENDING" }],
      });
      // An expected failure is data: a member of the union, read through `... on Error`.
      const refused = await client.mutate({ mutation: INVITE, variables: { o: organization.id, emails: ["nope"] } });
      expect(refused.error).toBeUndefined();
      expect(refused.data.inviteUsersToOrganization).toMatchObject({
        __typename: "ValidationError",
        code: "VALIDATION",
      });
    });

    it("reads top-level errors by extensions.code (CombinedGraphQLErrors)", async () => {
      const alice = await user("apollo-owner");
      const mallory = await user("apollo-outsider");
      const created = await apollo(alice.token).mutate({ mutation: CREATE_ORGANIZATION, variables: { title: "Acme" } });
      const orgId = created.data.createOrganization.organization.id;
      const error = await apollo(mallory.token)
        .query({ query: ORGANIZATION, variables: { o: orgId } })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(CombinedGraphQLErrors.is(error)).toBe(true);
      expect((error as CombinedGraphQLErrors).errors.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
      // errorPolicy "all": the partial data and the error side by side.
      const both = await apollo(mallory.token).query({
        query: ORGANIZATION,
        variables: { o: orgId },
        errorPolicy: "all",
      });
      expect(both.data).toEqual({ organization: null });
      expect(CombinedGraphQLErrors.is(both.error) && both.error.errors[0]?.extensions?.code).toBe("FORBIDDEN");
    });

    it("pages a list with fetchMore and cursors (relayStylePagination)", async () => {
      const alice = await user("apollo-pager");
      const client = apollo(alice.token);
      const created = await client.mutate({ mutation: CREATE_ORGANIZATION, variables: { title: "Paged" } });
      const orgId = created.data.createOrganization.organization.id;
      const emails = Array.from({ length: 5 }, (_, i) => uniqueEmail(`apollo-page${i}`));
      await client.mutate({ mutation: INVITE, variables: { o: orgId, emails } });

      const watched = client.watchQuery({ query: INVITES_PAGE, variables: { o: orgId } });
      const seen: string[][] = [];
      const subscription = watched.subscribe((result) => {
        const edges = result.data?.organization?.invites.edges as Array<{ node: { email: string } }> | undefined;
        if (edges) seen.push(edges.map((e) => e.node.email));
      });
      try {
        await until("the first page", () => seen.length > 0);
        // Each fetchMore appends its page to the cached list; the watched query re-renders with all of it.
        for (let page = 2; page <= 3; page++) {
          const { invites } = watched.getCurrentResult().data.organization;
          expect(invites.pageInfo.hasNextPage).toBe(true);
          await watched.fetchMore({ variables: { after: invites.pageInfo.endCursor } });
          await until(`page ${page} in the watched list`, () => seen.at(-1)?.length === Math.min(5, page * 2), 5000);
        }
        const merged = watched.getCurrentResult().data.organization.invites;
        expect(merged.totalCount).toBe(5);
        expect(merged.pageInfo.hasNextPage).toBe(false);
        expect(merged.edges.map((e: { node: { email: string } }) => e.node.email).sort()).toEqual([...emails].sort());
        expect(seen[0]).toHaveLength(2);
      } finally {
        subscription.unsubscribe();
      }
    });

    it("updates a cached member in place from a mutation's result (Member.id)", async () => {
      const alice = await user("apollo-admin");
      const bob = await user("apollo-member");
      const client = apollo(alice.token);
      const created = await client.mutate({ mutation: CREATE_ORGANIZATION, variables: { title: "Roles" } });
      const orgId = created.data.createOrganization.organization.id;
      await running.database.prisma.member.create({ data: { organizationId: orgId, userId: bob.id, role: "READ" } });
      const roleOf = (data: any, userId: string) =>
        data.organization.members.edges.find((e: { node: { user: { id: string } } }) => e.node.user.id === userId)?.node
          .role;
      const listed = await client.query({ query: MEMBERS, variables: { o: orgId } });
      expect(roleOf(listed.data, bob.id)).toBe("READ");
      const updated = await client.mutate({ mutation: UPDATE_ROLE, variables: { o: orgId, u: bob.id } });
      expect(updated.data.updateMemberRole.member).toMatchObject({ id: `${orgId}:${bob.id}`, role: "EDIT" });
      const cached = await client.query({ query: MEMBERS, variables: { o: orgId }, fetchPolicy: "cache-only" });
      expect(roleOf(cached.data, bob.id)).toBe("EDIT");
    });

    it("subscribes over graphql-ws (GraphQLWsLink, connectionParams)", async () => {
      const alice = await user("apollo-sub");
      const client = apollo(alice.token);
      const created = await client.mutate({ mutation: CREATE_ORGANIZATION, variables: { title: "Live" } });
      const orgId = created.data.createOrganization.organization.id;
      const events: Array<{ action: string; targetId: string; actor: { id: string } }> = [];
      const errors: unknown[] = [];
      const subscription = client.subscribe({ query: EVENTS, variables: { o: orgId } }).subscribe({
        next: (result) => {
          if (result.data) events.push(result.data.organizationEvents);
          if (result.error) errors.push(result.error);
        },
        error: (error) => void errors.push(error),
      });
      try {
        // Until the subscription is registered an invite's event may not reach it: invite until one does.
        const inviteIds: string[] = [];
        await until("an event through the subscription", async () => {
          const invited = await client.mutate({
            mutation: INVITE,
            variables: { o: orgId, emails: [uniqueEmail("live")] },
          });
          inviteIds.push(invited.data.inviteUsersToOrganization.invites[0].id);
          return until("the event", () => events.length > 0, 500).catch(() => false);
        });
        expect(errors).toEqual([]);
        expect(events[0]).toMatchObject({ action: "invite.created", actor: { id: alice.id } });
        expect(inviteIds).toContain(events[0]?.targetId);
      } finally {
        subscription.unsubscribe();
      }
    });
  });

  /** Every request body the HTTP link sends, with the status it got. */
  const recorder = () => {
    const sent: Array<{ status: number; body: Record<string, unknown> }> = [];
    const record: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      sent.push({ status: response.status, body: JSON.parse(String(init?.body)) });
      return response;
    };
    return { sent, record };
  };

  describe("persisted documents by hash (Apollo's PersistedQueryLink)", () => {
    it("APQ (allow mode): an unknown hash, then the hash with its text, then the hash alone", async () => {
      const alice = await user("apq");
      const { sent, record } = recorder();
      const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
      const made = apolloClient(url, alice.token, { persisted: new PersistedQueryLink({ sha256 }), fetch: record });
      disposers.push(
        () => made.client.stop(),
        () => made.wsClient.dispose(),
      );
      const first = await made.client.query({ query: VIEWER, fetchPolicy: "network-only" });
      expect(first.data).toEqual({ viewer: { __typename: "User", id: alice.id, email: alice.email } });
      const again = await made.client.query({ query: VIEWER, fetchPolicy: "network-only" });
      expect(again.data).toEqual(first.data);
      expect(sent.map((s) => [s.status, "query" in s.body])).toEqual([
        [404, false], // PERSISTED_QUERY_NOT_FOUND
        [200, true], // registered with its text
        [200, false], // the hash alone
      ]);
    });

    it("enforce mode: documents from codegen's client preset run by the hash it embedded", async () => {
      const { sent, record } = recorder();
      // The client preset embeds each document's hash as document.__meta__.hash.
      const made = apolloClient(enforced.url, await enforced.user(), {
        persisted: new PersistedQueryLink({
          generateHash: (document) => (document as DocumentNode & { __meta__: { hash: string } }).__meta__.hash,
        }),
        fetch: record,
      });
      disposers.push(
        () => made.client.stop(),
        () => made.wsClient.dispose(),
      );
      const viewer = await made.client.query({ query: generated.Viewer as Doc });
      expect(viewer.data.viewer).toMatchObject({ __typename: "User" });
      expect(sent.map((s) => [s.status, "query" in s.body])).toEqual([[200, false]]);
    });
  });

  describe("persisted documents by hash (urql's persistedExchange)", () => {
    it("APQ (allow mode): an unknown hash, then the hash with its text, then the hash alone", async () => {
      const alice = await user("urql-apq");
      const { sent, record } = recorder();
      const made = urqlClient(url, alice.token, { persisted: persistedExchange(), fetch: record });
      disposers.push(() => made.wsClient.dispose());
      // A document of its own: the hash of VIEWER may be registered already (by Apollo's test).
      const VIEWER_URQL: Doc = gql`query ViewerUrql { viewer { id email } }`;
      const first = await made.client.query(VIEWER_URQL, {}, { requestPolicy: "network-only" }).toPromise();
      expect(first.error).toBeUndefined();
      expect(first.data).toEqual({ viewer: { __typename: "User", id: alice.id, email: alice.email } });
      const again = await made.client.query(VIEWER_URQL, {}, { requestPolicy: "network-only" }).toPromise();
      expect(again.data).toEqual(first.data);
      expect(sent.map((s) => [s.status, "query" in s.body, Boolean(s.body.extensions)])).toEqual([
        [404, false, true], // PersistedQueryNotFound
        [200, true, true], // registered with its text
        [200, false, true], // the hash alone
      ]);
    });

    it("enforce mode: documents from codegen's client preset run by the hash it embedded", async () => {
      const { sent, record } = recorder();
      const made = urqlClient(enforced.url, await enforced.user(), {
        persisted: persistedExchange({
          enforcePersistedQueries: true,
          // The client preset embeds each document's hash as document.__meta__.hash.
          generateHash: async (_text, document) =>
            (document as unknown as { __meta__: { hash: string } }).__meta__.hash,
        }),
        fetch: record,
      });
      disposers.push(() => made.wsClient.dispose());
      const viewer = await made.client.query(generated.Viewer as Doc, {}).toPromise();
      expect(viewer.error).toBeUndefined();
      expect(viewer.data.viewer).toMatchObject({ __typename: "User" });
      expect(sent.map((s) => [s.status, "query" in s.body])).toEqual([[200, false]]);
      // The same client without the exchange sends the text, which enforce refuses.
      const plain = urqlClient(enforced.url, await enforced.user(), { fetch: record });
      disposers.push(() => plain.wsClient.dispose());
      const refused = await plain.client.query(generated.Viewer as Doc, {}).toPromise();
      expect(refused.error?.graphQLErrors.map((e) => e.extensions?.code)).toEqual(["PERSISTED_QUERY_ONLY"]);
    });
  });

  describe("persisted documents by id (Relay)", () => {
    it("enforce mode: a Relay environment whose network sends {documentId, variables} runs the compiler's id", async () => {
      const token = await enforced.user();
      const { sent, record } = recorder();
      // Relay's documented fetch function for persisted queries: the id in place of the text.
      const network = Network.create(async (params, variables) => {
        const response = await record(enforced.url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ documentId: params.id, variables }),
        });
        return response.json();
      });
      const environment = new Environment({ network, store: new Store(new RecordSource()) });
      const data = (await fetchQuery(environment, RELAY_VIEWER_QUERY, {}).toPromise()) as {
        viewer: { id: string; email: string };
      };
      expect(data.viewer.email).toMatch(/^trusted/);
      expect(sent.map((s) => [s.status, Object.keys(s.body).sort()])).toEqual([[200, ["documentId", "variables"]]]);
      // Normalised by id in Relay's store.
      expect(environment.getStore().getSource().get(data.viewer.id)).toMatchObject({ email: data.viewer.email });
    });
  });

  describe("urql", () => {
    it("runs a query, the tour's mutations, and reads errors from union results and extensions.code", async () => {
      const alice = await user("urql");
      const mallory = await user("urql-outsider");
      const client = urql(alice.token);
      const viewer = await client.query(VIEWER, {}).toPromise();
      expect(viewer.error).toBeUndefined();
      expect(viewer.data).toEqual({ viewer: { __typename: "User", id: alice.id, email: alice.email } });
      const created = await client.mutation(CREATE_ORGANIZATION, { title: "Acme" }).toPromise();
      const orgId = created.data.createOrganization.organization.id;
      expect(created.data.createOrganization.organization).toMatchObject({ title: "Acme", viewerRole: "ADMIN" });
      const invited = await client.mutation(INVITE, { o: orgId, emails: [uniqueEmail("urql-bob")] }).toPromise();
      expect(invited.data.inviteUsersToOrganization).toMatchObject({
        __typename: "InviteUsersToOrganizationSuccess",
        invited: 1,
      });
      const refused = await client.mutation(INVITE, { o: orgId, emails: ["nope"] }).toPromise();
      expect(refused.error).toBeUndefined();
      expect(refused.data.inviteUsersToOrganization).toMatchObject({
        __typename: "ValidationError",
        code: "VALIDATION",
      });
      const forbidden = await urql(mallory.token).query(ORGANIZATION, { o: orgId }).toPromise();
      expect(forbidden.data).toEqual({ organization: null });
      expect(forbidden.error?.graphQLErrors.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    });

    it("pages a list by cursor", async () => {
      const alice = await user("urql-pager");
      const client = urql(alice.token);
      const created = await client.mutation(CREATE_ORGANIZATION, { title: "Paged" }).toPromise();
      const orgId = created.data.createOrganization.organization.id;
      const emails = Array.from({ length: 5 }, (_, i) => uniqueEmail(`urql-page${i}`));
      await client.mutation(INVITE, { o: orgId, emails }).toPromise();
      const listed: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page: { data?: any; error?: unknown } = await client.query(INVITES_PAGE, { o: orgId, after }).toPromise();
        expect(page.error).toBeUndefined();
        const { invites } = page.data.organization as { invites: any };
        listed.push(...invites.edges.map((e: { node: { email: string } }) => e.node.email));
        if (!invites.pageInfo.hasNextPage) break;
        after = invites.pageInfo.endCursor;
      }
      expect(listed.sort()).toEqual([...emails].sort());
    });

    it("subscribes over graphql-ws (subscriptionExchange, connectionParams)", async () => {
      const alice = await user("urql-sub");
      const client = urql(alice.token);
      const created = await client.mutation(CREATE_ORGANIZATION, { title: "Live" }).toPromise();
      const orgId = created.data.createOrganization.organization.id;
      const events: Array<{ action: string; targetId: string; actor: { id: string } }> = [];
      const errors: unknown[] = [];
      const subscription = client.subscription(EVENTS, { o: orgId }).subscribe((result) => {
        if (result.data) events.push(result.data.organizationEvents);
        if (result.error) errors.push(result.error);
      });
      try {
        const inviteIds: string[] = [];
        await until("an event through the subscription", async () => {
          const invited = await client.mutation(INVITE, { o: orgId, emails: [uniqueEmail("urql-live")] }).toPromise();
          inviteIds.push(invited.data.inviteUsersToOrganization.invites[0].id);
          return until("the event", () => events.length > 0, 500).catch(() => false);
        });
        expect(errors).toEqual([]);
        expect(events[0]).toMatchObject({ action: "invite.created", actor: { id: alice.id } });
        expect(inviteIds).toContain(events[0]?.targetId);
      } finally {
        subscription.unsubscribe();
      }
    });
  });
});
