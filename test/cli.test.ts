import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli.js";
import { loadConfig } from "../src/config.js";
import { createDatabase } from "../src/db.js";
import { parseCommand } from "../src/operator.js";
import { uniqueEmail } from "./helpers/app.js";
import { runCliProcess } from "./helpers/process.js";

describe("operator CLI", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-cli-"));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function counts() {
    const database = createDatabase(config);
    try {
      await database.migrate();
      const db = database.prisma;
      return { users: await db.user.count(), tokens: await db.apiToken.count(), orgs: await db.organization.count() };
    } finally {
      await database.close();
    }
  }

  it("prints one JSON object per command and exits 0", async () => {
    const email = uniqueEmail("cli");
    const user = await runCliProcess(["user", "create", "--email", ` ${email.toUpperCase()} `, "--name", "Cli"], {
      DATA_DIR: dataDir,
    });
    expect(user.code, user.stderr).toBe(0);
    const created = JSON.parse(user.stdout);
    expect(Object.keys(created).sort()).toEqual(["email", "id", "token"]);
    expect(created.email).toBe(email);
    expect(created.token.length).toBeGreaterThanOrEqual(40);

    const token = await runCliProcess(["token", "create", "--email", email, "--expires-in", "30d"], {
      DATA_DIR: dataDir,
    });
    expect(token.code, token.stderr).toBe(0);
    const t = JSON.parse(token.stdout);
    const days = (new Date(t.expiresAt).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);

    const revoked = await runCliProcess(["token", "revoke", "--token", t.token], { DATA_DIR: dataDir });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: true });
  });

  it.each([
    [[], /usage/],
    [["nope"], /unknown command/],
    [["user", "delete"], /unknown command/],
    [["user", "create"], /--email is required/],
    [["user", "create", "--email", "not-an-email"], /Invalid email/],
    [["user", "create", "--email", "a@example.com", "--bogus", "x"], /Unknown option/],
    [["token", "create", "--email", "nobody@example.com"], /No user with email/],
    [["token", "create", "--email", "a@example.com", "--expires-in", "soon"], /not a duration/],
    [["token", "revoke", "--token", "igw_unknown"], /No such token/],
    [["org", "create", "--title", "x".repeat(201), "--owner-email", "new-owner@example.com"], /at most 200/],
    [["org", "create", "--title", "T"], /--owner-email is required/],
  ])("rejects %j with exit 2, a message on stderr, and writes nothing", async (args, message) => {
    const before = await counts();
    const result = await runCliProcess(args as string[], { DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe("");
    expect(await counts()).toEqual(before);
  });

  it("parses commands strictly before touching the database", () => {
    expect(() => parseCommand(["org", "create", "--title", "x", "--owner-email"])).toThrow(
      /argument missing|--owner-email/,
    );
    expect(parseCommand(["org", "create", "--title", "x", "--owner-email", "a@b.co"]).values).toEqual({
      title: "x",
      "owner-email": "a@b.co",
    });
  });

  it("creates the owner of a new organization when the email is unknown", async () => {
    const email = uniqueEmail("owner");
    const org = (await runCli(["org", "create", "--title", "New Org", "--owner-email", email], config)) as {
      id: string;
      title: string;
      ownerId: string;
    };
    expect(org.title).toBe("New Org");
    const database = createDatabase(config);
    try {
      const member = await database.prisma.member.findUniqueOrThrow({
        where: { organizationId_userId: { organizationId: org.id, userId: org.ownerId } },
        include: { user: true },
      });
      expect(member.role).toBe("ADMIN");
      expect(member.user.email).toBe(email);
      expect(member.user.emailVerified).toBe(true);
    } finally {
      await database.close();
    }
  });
});
