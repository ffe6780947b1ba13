/**
 * The real server process with REDIS_URL pointing at a closed port (Redis down): an
 * organizationEvents subscriber that comes and goes (the failing Redis UNSUBSCRIBE) does not end
 * the process, and SIGTERM still shuts it down cleanly (exit 0).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { uniqueEmail } from "./helpers/app.js";
import { createUserWithCli, type ServerProcess, startServerProcess, stopServerProcess } from "./helpers/process.js";

describe("the real server with Redis unreachable", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-redis-down-"));
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await stopServerProcess(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("survives a subscriber leaving (UNSUBSCRIBE fails) and exits 0 on SIGTERM", async () => {
    const { token } = await createUserWithCli(["--email", uniqueEmail("down")], { DATA_DIR: dataDir });
    // Nothing listens on port 1: every Redis command fails.
    const running = await startServerProcess({ DATA_DIR: dataDir, REDIS_URL: "redis://127.0.0.1:1" });
    server = running;
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
    const org = await fetch(`${running.url}/graphql`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        query: `mutation { createOrganization(input: { title: "Down" }) {
          ... on CreateOrganizationSuccess { organization { id } } } }`,
      }),
    });
    const organizationId = ((await org.json()) as any).data.createOrganization.organization.id as string;

    const controller = new AbortController();
    const sub = await fetch(`${running.url}/graphql`, {
      method: "POST",
      headers: { ...headers, accept: "text/event-stream" },
      body: JSON.stringify({
        query: "subscription ($o: ID!) { organizationEvents(organizationId: $o) { id } }",
        variables: { o: organizationId },
      }),
      signal: controller.signal,
    });
    expect(sub.status).toBe(200);
    const until = async (what: string, check: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${running.output()}`);
        await sleep(20);
      }
    };
    await until("SUBSCRIBE to fail", () => running.output().includes("Redis SUBSCRIBE failed"));
    controller.abort(); // the organization's last subscriber leaves: UNSUBSCRIBE, which fails
    await until(
      "UNSUBSCRIBE to fail (or the process to exit)",
      () => running.child.exitCode !== null || running.output().includes("Redis UNSUBSCRIBE failed"),
    );
    expect(running.child.exitCode).toBeNull();
    expect((await fetch(`${running.url}/health`)).status).toBe(200);

    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
  });
});
