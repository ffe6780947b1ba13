import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { type RunningServer, startServer } from "../../src/server.js";

/**
 * GraphiQL must work with no internet access: its page, scripts, styles and workers all come from
 * the service itself. Proven over real HTTP, and in Debian's Chromium driven by playwright-core.
 */

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
// CI installs Chromium (.ci/run), so there a missing browser fails the test; locally it is skipped.
const SKIP_BROWSER = !HAS_CHROMIUM && !process.env.CI;
const BROWSER_TEST_NAME = SKIP_BROWSER
  ? `runs a query in GraphiQL in Chromium (SKIPPED: ${CHROMIUM} is missing; apt-get install chromium)`
  : "runs a query in GraphiQL in Chromium";

/** An external asset: <script src="http(s)://..."> / <link href="//..."> and the like. */
const EXTERNAL_ASSET = /<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i;

const dataDir = mkdtempSync(join(tmpdir(), "igw-graphiql-"));
const env = { NODE_ENV: "test", HOST: "127.0.0.1", PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "silent" };

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function getHtml(url: string): Promise<Response> {
  return fetch(`${url}/graphql`, { headers: { accept: "text/html" } });
}

describe("GraphiQL enabled (default)", () => {
  let running: RunningServer;

  beforeAll(async () => {
    // The first start migrates the new PGlite data dir: several seconds.
    running = await startServer(loadConfig(env));
  });
  afterAll(async () => {
    await running?.close();
  });

  it("serves GraphiQL HTML with no external assets", async () => {
    const response = await getHtml(running.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain("<title>invites-gateway</title>");
    expect(html).toContain("renderYogaGraphiQL");
    expect(html).not.toContain('<script src="http');
    expect(html).not.toContain('<link href="http');
    expect(html).not.toMatch(EXTERNAL_ASSET);
  });

  it.skipIf(SKIP_BROWSER)(
    BROWSER_TEST_NAME,
    async () => {
      if (!HAS_CHROMIUM) throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get install chromium)`);
      const { user, token } = await createUserWithToken(running.database.prisma, {
        email: `graphiql-${Date.now().toString(36)}@example.com`,
      });

      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        });
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        page.setDefaultTimeout(30_000);

        const requests: Array<{ url: string; method: string; headers: Record<string, string>; body: string | null }> =
          [];
        const pageErrors: string[] = [];
        page.on("request", (request) => {
          requests.push({
            url: request.url(),
            method: request.method(),
            headers: request.headers(),
            body: request.postData(),
          });
        });
        page.on("websocket", (ws) => requests.push({ url: ws.url(), method: "WEBSOCKET", headers: {}, body: null }));
        page.on("pageerror", (error) => pageErrors.push(error.message));

        const response = await page.goto(`${running.url}/graphql`);
        expect(response?.status()).toBe(200);
        // The initial schema introspection is done before we touch the editors.
        await page.waitForLoadState("networkidle");

        // Editors (Monaco in GraphiQL 5, CodeMirror before): focus, select all, delete, then type.
        // Typing (not pasting) lets the editor's auto-closed brackets and quotes be typed over.
        const queryEditor = page.locator(".graphiql-query-editor .graphiql-editor").first();
        await queryEditor.click();
        await page.keyboard.press("ControlOrMeta+A");
        await page.keyboard.press("Backspace");
        await page.keyboard.type("{ viewer { id } }");

        await page.getByRole("button", { name: "Headers", exact: true }).click();
        const headersEditor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden)").first();
        await headersEditor.click();
        await page.keyboard.press("ControlOrMeta+A");
        await page.keyboard.press("Backspace");
        await page.keyboard.type(JSON.stringify({ Authorization: `Bearer ${token}` }));

        await page.getByRole("button", { name: /^Execute query/ }).click();

        const result = page.locator(".graphiql-response");
        try {
          await expect
            .poll(() => result.textContent(), { timeout: 30_000, interval: 250 })
            .toMatch(new RegExp(`"id":\\s*"${user.id}"`));
        } catch (error) {
          const shot = join(tmpdir(), `igw-graphiql-failure-${Date.now()}.png`);
          await page.screenshot({ path: shot }).catch(() => undefined);
          throw new Error(`GraphiQL did not show the viewer's id (screenshot: ${shot}): ${String(error)}`);
        }

        // The request GraphiQL sent carries exactly the query and the header that were typed.
        const execution = requests.find(
          (r) => r.method === "POST" && r.body?.includes("viewer") && !r.body.includes("__schema"),
        );
        expect(execution?.headers.authorization).toBe(`Bearer ${token}`);
        expect((JSON.parse(execution?.body ?? "{}") as { query?: string }).query?.replace(/\s+/g, "")).toBe(
          "{viewer{id}}",
        );

        // Nothing left the machine: every request went to the service (or was a data:/blob: URL).
        const external = requests
          .map((r) => r.url)
          .filter((url) => {
            const { protocol, hostname } = new URL(url);
            return !(protocol === "data:" || protocol === "blob:" || hostname === "127.0.0.1");
          });
        expect(external).toEqual([]);
        expect(pageErrors).toEqual([]);
      } finally {
        await browser?.close();
      }
    },
    120_000,
  );
});

describe("GraphiQL disabled (GRAPHIQL=false)", () => {
  let running: RunningServer;

  beforeAll(async () => {
    // Reuses the data dir the enabled server has closed by now: already migrated.
    running = await startServer(loadConfig({ ...env, GRAPHIQL: "false" }));
  });
  afterAll(async () => {
    await running?.close();
  });

  it("does not serve GraphiQL HTML", async () => {
    const response = await getHtml(running.url);
    expect(response.headers.get("content-type") ?? "").not.toMatch(/text\/html/);
    const body = await response.text();
    expect(body).not.toMatch(/graphiql/i);
    expect(body).not.toContain("<html");
  });
});
