import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { statementNames } from "../../src/db/client.js";
import { useTestApp } from "../helpers/app.js";

/**
 * Prepared statements (DB_PREPARED_STATEMENTS): each distinct statement text takes one of a process's
 * limited names, and each connection keeps every named statement it ran. Prisma writes an `IN` list
 * with one parameter per value (`IN ($1,$2,$3)`), so a batch of every size would be a text of its
 * own: any signed-in caller (an `_entities` call of 1, 2, … 99 representations), or ordinary traffic
 * whose batches vary, would use up the names for good, and the statements first seen after that
 * would never be prepared.
 */
describe("statementNames", () => {
  it("gives no name to a statement whose IN list holds more than one parameter", () => {
    const name = statementNames(500);
    expect(name({ sql: `SELECT 1 FROM "User" WHERE "id" IN ($1)`, args: ["a"] })).toBe("igw_0");
    expect(name({ sql: `SELECT 1 FROM "User" WHERE "id" IN ($1,$2)`, args: ["a", "b"] })).toBe("");
    expect(name({ sql: `SELECT 1 FROM "User" WHERE "x" = $1 AND "id" IN ($2,$3,$4)`, args: [1, 2, 3, 4] })).toBe("");
    expect(name({ sql: `SELECT 1 FROM "User" WHERE "id" = ANY($1::text[])`, args: [["a", "b"]] })).toBe("igw_1");
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)("prepared statements under varying batch sizes (postgres)", () => {
  // One connection: what it keeps prepared is what the process named.
  const app = useTestApp("postgres", { DB_POOL_SIZE: "1" });

  it("_entities calls of 1 to 60 representations do not each add prepared statements", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const prepared = async () =>
      Number(
        (await db.$queryRawUnsafe<Array<{ n: bigint }>>(`SELECT count(*) AS n FROM pg_prepared_statements`))[0]?.n,
      );
    await gql(`{ viewer { id } }`, { token: org.owner.token });
    const before = await prepared();
    for (let n = 1; n <= 60; n++) {
      const representations = ["User", "Invite", "LinkInvite", "Organization"].flatMap((__typename) =>
        Array.from({ length: n }, () => ({ __typename, id: randomUUID() })),
      );
      const r = await gql(`query($r: [_Any!]!) { _entities(representations: $r) { __typename } }`, {
        token: org.owner.token,
        variables: { r: representations },
      });
      expect(r.errors).toBeUndefined();
    }
    // The loaders' statements with one representation each, not one per batch size (~300 before).
    expect((await prepared()) - before).toBeLessThan(20);
  });
});
