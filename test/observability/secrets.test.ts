import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliProcess, type ServerProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";

/**
 * The most verbose server there is (LOG_LEVEL=trace), fed every kind of secret the service knows:
 * API tokens (valid, revoked, malformed), email invite ids and link secrets in variables, inline in
 * queries, in GET query strings and in failing calls. None of them may appear in its output.
 */
describe("no secret in the logs", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-secrets-"));
  let server: ServerProcess;
  const secrets: string[] = [];

  beforeAll(async () => {
    server = await startServerProcess({ DATA_DIR: dataDir, LOG_LEVEL: "trace" });
  });
  afterAll(async () => {
    await stopServerProcess(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function gql(query: string, variables: Record<string, unknown>, token?: string) {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: any[] };
  }

  it("logs requests, errors and operator commands without a token, invite id or link secret", async () => {
    const cli = async (...args: string[]) => {
      const result = await runCliProcess(args, { DATA_DIR: dataDir });
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout);
    };
    const admin = await cli("user", "create", "--email", "admin@example.com");
    const joiner = await cli("user", "create", "--email", "joiner@example.com");
    const spare = await cli("token", "create", "--email", "admin@example.com");
    secrets.push(admin.token, joiner.token, spare.token);
    const org = await cli("org", "create", "--title", "Secretive", "--owner-email", "admin@example.com");

    const invited = await gql(
      `mutation($org: ID!) { inviteUsersToOrganization(organizationId: $org, input: { emails: ["joiner@example.com"] }) {
        ... on InviteUsersToOrganizationSuccess { invites { id } } } }`,
      { org: org.id },
      admin.token,
    );
    const inviteId = invited.data.inviteUsersToOrganization.invites[0].id as string;
    const link = await gql(
      `mutation($org: ID!) { createLinkInvite(organizationId: $org, input: { role: READ, maxUses: 1 }) {
        ... on CreateLinkInviteSuccess { linkInvite { id url } } } }`,
      { org: org.id },
      admin.token,
    );
    const linkId = link.data.createLinkInvite.linkInvite.id as string;
    secrets.push(inviteId, linkId);

    const join = `mutation($org: ID!, $id: ID!) { joinOrganizationWithInvite(organizationId: $org, inviteId: $id) { __typename } }`;
    await gql(join, { org: org.id, id: inviteId }, joiner.token);
    await gql(join, { org: org.id, id: linkId }, admin.token); // ALREADY_MEMBER
    await gql(
      `mutation { joinOrganizationWithInvite(organizationId: "${org.id}", inviteId: "${linkId}") { __typename } }`,
      {},
      joiner.token,
    );
    await gql(`{ linkInvitePreview(organizationId: "${org.id}", inviteId: "${linkId}") { status } }`, {});
    await gql("{ viewer { id } }", {}, `${admin.token.slice(0, -2)}xx`); // a bad token
    await gql("query Broken($x: Int!) { viewer { id } }", { x: linkId }, admin.token); // a variables error quoting it
    await fetch(
      `${server.url}/graphql?query=${encodeURIComponent(`{ organization(id: "${org.id}") { linkInvite(id: "${linkId}") { id } } }`)}`,
      { headers: { authorization: `Bearer ${admin.token}`, accept: "application/json" } },
    );
    await cli("token", "revoke", "--token", spare.token);
    await gql("{ viewer { id } }", {}, spare.token); // revoked
    await runCliProcess(["token", "revoke", "--token", `${spare.token}zz`], { DATA_DIR: dataDir }); // unknown

    const output = server.output();
    expect(output.length).toBeGreaterThan(1000); // it did log, verbosely
    for (const secret of secrets) {
      expect(output.includes(secret), `the server's output contains a secret (${secret.slice(0, 6)}…)`).toBe(false);
    }
  });
});
