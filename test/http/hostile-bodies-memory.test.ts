/**
 * Distinct large documents do not fill the heap (issue 14): Yoga kept 1,024 parsed documents and
 * 1,024 parse errors by their text whatever their size, with each document's validation result. 200
 * distinct documents of 9,000 unknown fields (18 KB each, under MAX_TOKENS) held 870 MB; 200 distinct
 * 1 MB comments held 200 MB more. src/http/plugins/document-cache.ts bounds the text the caches hold.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { createTextKeyedCache } from "../../src/http/plugins/document-cache.js";
import { useTestApp } from "../helpers/app.js";

describe("the parsed-document caches", () => {
  it("hold at most maxChars of text, least recently used out first, and no text over a tenth of it", () => {
    const cache = createTextKeyedCache<number>(100);
    cache.set("a".repeat(11), 0); // over a tenth: not kept
    expect(cache.get("a".repeat(11))).toBeUndefined();
    for (let i = 0; i < 10; i++) cache.set(`${i}`.padEnd(10, "x"), i);
    expect(cache.get("0".padEnd(10, "x"))).toBe(0); // now the most recently used
    cache.set("new".padEnd(10, "x"), 10);
    expect(cache.get("1".padEnd(10, "x"))).toBeUndefined(); // the least recently used went
    expect(cache.get("0".padEnd(10, "x"))).toBe(0);
    expect(cache.get("new".padEnd(10, "x"))).toBe(10);
    cache.set("new".padEnd(10, "x"), 11); // the same text again takes no more room
    for (let i = 2; i < 10; i++) expect(cache.get(`${i}`.padEnd(10, "x"))).toBe(i);
  });

  describe("through the handler", () => {
    const app = useTestApp("pglite");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heapMb = () => {
      gc();
      return process.memoryUsage().heapUsed / 1e6;
    };

    it("keep no more than tens of MB after 100 distinct dense documents and 40 distinct 1 MB ones", async () => {
      const send = async (query: string) => {
        const response = await app.current.yoga.fetch("http://localhost/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query }),
        });
        await response.text();
        expect(response.status).toBeLessThan(500);
      };
      await send("{ __typename }");
      const before = heapMb();
      // Before the fix: ~4.3 MB held per dense document, ~1 MB per long one (~470 MB here).
      for (let i = 0; i < 100; i++) await send(`{ f${i} ${"a ".repeat(9_000)}}`);
      for (let i = 0; i < 40; i++) await send(`{ __typename } # ${i} ${"x".repeat(990_000)}`);
      expect(heapMb() - before).toBeLessThan(150);
      const next = await app.current.gql("{ __typename }");
      expect(next.data).toEqual({ __typename: "Query" });
    });
  });
});
