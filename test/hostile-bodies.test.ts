/**
 * Request bodies an attacker would send: deeply nested, unbalanced, long. Each gets a 4xx or a
 * GraphQL error with a code, never a 5xx, and the handler keeps answering. (A first slice of
 * issue 14; `{ a ` × 12,000 was a 500: graphql-js' recursive parser overflowed its stack before
 * any limit answered.)
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { useTestApp } from "./helpers/app.js";

describe("hostile bodies", () => {
  const app = useTestApp("pglite");

  const post = async (body: string, contentType = "application/json") => {
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    const text = await response.text();
    return { status: response.status, text };
  };

  const coded = (text: string) => {
    const body = JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> };
    return (body.errors ?? []).map((e) => e.extensions?.code);
  };

  it("answers `{ a ` × 12,000 (unclosed) with 400 BAD_USER_INPUT, and serves the next request", async () => {
    const res = await post(JSON.stringify({ query: "{ a ".repeat(12_000) }));
    expect(res.status, res.text).toBe(400);
    expect(coded(res.text)).toEqual(["BAD_USER_INPUT"]);
    expect(res.text).toMatch(/nests deeper/);
    const next = await post(JSON.stringify({ query: "{ __typename }" }));
    expect(JSON.parse(next.text)).toEqual({ data: { __typename: "Query" } });
  });

  it.each([
    ["closed selection sets", (n: number) => `${"{ a ".repeat(n)}${"}".repeat(n)}`],
    ["a nested list argument", (n: number) => `{ organization(id: ${"[".repeat(n)}"x"${"]".repeat(n)}) { id } }`],
    ["a nested input object", (n: number) => `{ organization(id: ${"{a:".repeat(n)}1${"}".repeat(n)}) { id } }`],
    ["unbalanced parentheses", (n: number) => `{ organization${"(".repeat(n)} }`],
  ])("answers %s 100,000 deep with a 4xx and a code", async (_name, build) => {
    const res = await post(JSON.stringify({ query: build(100_000) }));
    expect(res.status, res.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(res.status, res.text.slice(0, 300)).toBeLessThan(500);
    expect(coded(res.text).every((code) => typeof code === "string")).toBe(true);
  });

  it("never answers a 5xx to brackets, quotes and names in any order, at any depth up to 2,000", async () => {
    const piece = fc.constantFrom("{", "}", "[", "]", "(", ")", '"', '"""', "a", " ", ":", "$v", "...", "#", "\\", "@");
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 200 }),
        fc.integer({ min: 1, max: 2_000 }),
        async (pieces, times) => {
          const query = pieces.join("").repeat(Math.max(1, Math.floor(times / Math.max(1, pieces.length))));
          const res = await post(JSON.stringify({ query }));
          expect(res.status, `${query.slice(0, 200)} -> ${res.text.slice(0, 200)}`).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
  });
});
