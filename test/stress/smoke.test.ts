import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";

// The stress suite's own check that it runs: one real server process answers.
describe("stress suite", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ DATA_DIR: "memory://" });
  });
  afterAll(async () => {
    await stopServerProcess(server);
  });
  it("starts a server process", async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
  });
});
