import { createGatewayRuntime, type GatewayRuntime } from "@graphql-hive/gateway-runtime";
import http from "@graphql-mesh/transport-http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestUser, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { type ContentSubgraph, startContentSubgraph } from "./content-subgraph.js";
import { composeSupergraph, fetchSubgraphSdl, serveInvitesSubgraph } from "./helpers.js";

interface GatewayResponse {
  status: number;
  data: Record<string, any> | null | undefined;
  errors: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }> | undefined;
  ms: number;
}

describe.each(DB_KINDS)("a Hive gateway over our subgraph and a content subgraph (%s)", (kind) => {
  const app = useTestApp(kind);
  let invites: { url: string; close(): Promise<void> };
  let content: ContentSubgraph;
  let gateway: GatewayRuntime;

  let admin: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let orgId: string;
  let otherOrgId: string;

  /** POST /graphql to the gateway (in-process: gateway.fetch), as `token`'s user or anonymously. */
  async function viaGateway(query: string, variables: Record<string, unknown>, token?: string | null) {
    const started = performance.now();
    const response = await gateway.fetch("http://gateway.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: GatewayResponse["errors"] };
    const ms = performance.now() - started;
    return { status: response.status, data: body.data, errors: body.errors, ms } satisfies GatewayResponse;
  }

  function log(label: string, res: GatewayResponse) {
    console.log(
      `[gateway ${kind}] ${label}: ${res.ms.toFixed(1)} ms, HTTP ${res.status}\n${JSON.stringify(
        { data: res.data, errors: res.errors },
        null,
        1,
      )}`,
    );
  }

  beforeAll(async () => {
    [invites, content] = await Promise.all([serveInvitesSubgraph(app.current.yoga), startContentSubgraph()]);
    const [invitesSdl, contentSdl] = await Promise.all([fetchSubgraphSdl(invites.url), fetchSubgraphSdl(content.url)]);
    const composed = composeSupergraph({
      invites: { sdl: invitesSdl, url: invites.url },
      content: { sdl: contentSdl, url: content.url },
    });
    if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join("\n"));

    gateway = createGatewayRuntime({
      supergraph: composed.supergraphSdl,
      logging: false,
      // The HTTP transport (Hive Gateway bundles it; the bare runtime would `import()` it by name).
      transports: { http },
      // Each subgraph authenticates the caller itself: the gateway forwards the client's credentials.
      propagateHeaders: {
        fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get("authorization") }),
      },
    });

    const { seed } = app.current;
    admin = await seed.user("admin");
    member = await seed.user("member");
    outsider = await seed.user("outsider");
    orgId = (await seed.org(admin, "Acme Docs")).id;
    otherOrgId = (await seed.org(outsider, "Elsewhere")).id;
    await seed.member(orgId, member, "READ");

    content.addSpace({ id: "space-handbook", name: "Handbook", organizationId: orgId });
    content.addSpace({ id: "space-api", name: "API reference", organizationId: orgId });
    content.addSpace({ id: "space-other", name: "Somebody else's", organizationId: otherOrgId });
    content.collections.set("col-guides", { id: "col-guides", title: "Guides" });

    // Three links of the organization: to the organization, to a space, to a collection.
    for (const input of [
      { role: "READ" },
      { kind: "SPACE", role: "EDIT", spaceId: "space-handbook" },
      { kind: "COLLECTION", role: "COMMENT", collectionId: "col-guides" },
    ]) {
      const res = await app.current.gql(
        `mutation ($o: ID!, $input: CreateLinkInviteInput!) {
          createLinkInvite(organizationId: $o, input: $input) { __typename }
        }`,
        { variables: { o: orgId, input }, token: admin.token },
      );
      expect(res.data?.createLinkInvite.__typename).toBe("CreateLinkInviteSuccess");
    }
  });

  afterAll(async () => {
    await gateway?.dispose();
    await Promise.all([invites?.close(), content?.close()]);
  });

  it("(a) resolves LinkInvite.space / .collection from the content subgraph for an admin", async () => {
    const res = await viaGateway(
      `query ($id: ID!) {
        organization(id: $id) {
          title
          linkInvites { edges { node { kind space { id name } collection { id title } } } }
        }
      }`,
      { id: orgId },
      admin.token,
    );
    log("(a) admin: organization { title linkInvites { ... space { id name } collection { id title } } }", res);
    expect(res.errors).toBeUndefined();
    expect(res.data?.organization.title).toBe("Acme Docs");
    const nodes = res.data?.organization.linkInvites.edges.map((e: any) => e.node);
    expect(nodes).toHaveLength(3);
    expect(nodes).toEqual(
      expect.arrayContaining([
        { kind: "ORGANIZATION", space: null, collection: null },
        { kind: "SPACE", space: { id: "space-handbook", name: "Handbook" }, collection: null },
        { kind: "COLLECTION", space: null, collection: { id: "col-guides", title: "Guides" } },
      ]),
    );
    // The client's credentials reached the content subgraph too.
    expect(content.authorizationHeaders.at(-1)).toBe(`Bearer ${admin.token}`);
  });

  it("(b) enters through the content subgraph and resolves Organization.title from ours via _entities", async () => {
    const res = await viaGateway(
      `query ($id: ID!) { space(id: $id) { name organization { id title viewerRole } } }`,
      { id: "space-api" },
      member.token,
    );
    log("(b) member: space { name organization { id title viewerRole } }", res);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({
      space: { name: "API reference", organization: { id: orgId, title: "Acme Docs", viewerRole: "READ" } },
    });
  });

  /**
   * `_entities` is no existence oracle: an organization the caller may not see comes back exactly as
   * one our subgraph does not know. `space-api-twin` is `space-api` (same name) in an organization
   * that does not exist: the two answers, compared whole, must be the same.
   */
  const SPACE_ORG_TITLE = `query ($id: ID!) { space(id: $id) { name organization { title } } }`;
  const strip = ({ ms: _ms, ...res }: GatewayResponse) => res;
  function addTwinOfApiSpace() {
    content.addSpace({
      id: "space-api-twin",
      name: "API reference",
      organizationId: "00000000-0000-4000-8000-00000000c0de",
    });
  }

  it("(c) an organization the caller may not see is null through the gateway, as an unknown one, the content fields still there", async () => {
    addTwinOfApiSpace();
    const res = await viaGateway(SPACE_ORG_TITLE, { id: "space-api" }, outsider.token);
    log("(c) non-member: space { name organization { title } }", res);
    expect(res.status).toBe(200);
    expect(res.data?.space).toEqual({ name: "API reference", organization: null });
    expect(JSON.stringify(res)).not.toContain("Acme Docs");
    const unknown = await viaGateway(SPACE_ORG_TITLE, { id: "space-api-twin" }, outsider.token);
    expect(strip(res)).toEqual(strip(unknown));

    // The outsider's own organization's space still shows its title: the answer is per organization.
    const own = await viaGateway(SPACE_ORG_TITLE, { id: "space-other" }, outsider.token);
    expect(own.errors).toBeUndefined();
    expect(own.data?.space.organization.title).toBe("Elsewhere");
  });

  it("(c) anonymous callers get the same: null as for an unknown organization; UNAUTHENTICATED at our root field", async () => {
    addTwinOfApiSpace();
    const res = await viaGateway(SPACE_ORG_TITLE, { id: "space-api" });
    log("(c) anonymous: space { name organization { title } }", res);
    expect(res.status).toBe(200);
    expect(res.data?.space).toEqual({ name: "API reference", organization: null });
    const unknown = await viaGateway(SPACE_ORG_TITLE, { id: "space-api-twin" });
    expect(strip(res)).toEqual(strip(unknown));

    // At our own root field, the denial is as before.
    const root = await viaGateway(`query ($id: ID!) { organization(id: $id) { title } }`, { id: orgId });
    log("(c) anonymous: organization { title }", root);
    expect(root.data?.organization).toBeNull();
    expect(root.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
  });

  it("(d) a member gets the organization's spaces from the content subgraph", async () => {
    const res = await viaGateway(
      `query ($id: ID!) { organization(id: $id) { title spaces { name } } }`,
      { id: orgId },
      member.token,
    );
    log("(d) member: organization { title spaces { name } }", res);
    expect(res.errors).toBeUndefined();
    expect(res.data?.organization.title).toBe("Acme Docs");
    expect(res.data?.organization.spaces.map((s: any) => s.name).sort()).toEqual(["API reference", "Handbook"]);
  });
  it("an invalid token is UNAUTHENTICATED through the gateway, at the root and through _entities", async () => {
    const root = await viaGateway(`query ($id: ID!) { organization(id: $id) { title } }`, { id: orgId }, "not-a-token");
    log("bad token: organization { title }", root);
    expect(root.data?.organization).toBeNull();
    expect(root.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);

    const entities = await viaGateway(
      `query ($id: ID!) { space(id: $id) { name organization { title } } }`,
      { id: "space-api" },
      "not-a-token",
    );
    log("bad token: space { name organization { title } }", entities);
    expect(entities.data?.space).toEqual({ name: "API reference", organization: null });
    expect(entities.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
    expect(entities.errors?.[0]?.path).toEqual(["space", "organization", "title"]);
  });

  it("an organization the content subgraph names but we do not know comes back null", async () => {
    const unknownOrgId = "00000000-0000-4000-8000-000000000000";
    content.addSpace({ id: "space-orphan", name: "Orphan", organizationId: unknownOrgId });
    // Our subgraph answers _entities with null for it, as the federation spec asks ...
    const direct = await app.current.gql(
      `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Organization { title } } }`,
      { variables: { r: [{ __typename: "Organization", id: unknownOrgId }] }, token: member.token },
    );
    expect(direct.errors).toBeUndefined();
    expect(direct.data).toEqual({ _entities: [null] });
    // ... and the gateway nulls Space.organization (it adds its own error for the missing String!).
    const res = await viaGateway(
      `query ($id: ID!) { space(id: $id) { name organization { title } } }`,
      { id: "space-orphan" },
      member.token,
    );
    log("unknown organization: space { name organization { title } }", res);
    expect(res.data?.space).toEqual({ name: "Orphan", organization: null });
  });

  it("routes mutations to our subgraph and joins content fields into their results", async () => {
    const res = await viaGateway(
      `mutation ($o: ID!) {
        createLinkInvite(organizationId: $o, input: { kind: SPACE, role: READ, spaceId: "space-api" }) {
          __typename
          ... on CreateLinkInviteSuccess { linkInvite { kind space { id name organization { title } } } }
        }
      }`,
      { o: orgId },
      admin.token,
    );
    log("admin: mutation createLinkInvite { ... space { name organization { title } } }", res);
    expect(res.errors).toBeUndefined();
    expect(res.data?.createLinkInvite).toEqual({
      __typename: "CreateLinkInviteSuccess",
      linkInvite: {
        kind: "SPACE",
        space: { id: "space-api", name: "API reference", organization: { title: "Acme Docs" } },
      },
    });
  });
});
