import { describe, expect, it } from "vitest";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

describe.each(DB_KINDS)("smoke (%s)", (kind) => {
  const app = useTestApp(kind);

  it("answers viewer for a token and null when anonymous", async () => {
    const user = await app.current.seed.user();
    const me = await app.current.gql("{ viewer { id email } }", { token: user.token });
    expect(me.data).toEqual({ viewer: { id: user.id, email: user.email } });
    const anon = await app.current.gql("{ viewer { id } }");
    expect(anon.data).toEqual({ viewer: null });
  });
});
