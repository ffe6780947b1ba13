import { Agent, request } from "node:http";
import type { ServerProcess } from "./process.js";

/** The stress tests' clients of several server processes (replicas) on one database. */

export interface Response {
  status: number;
  body: { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

/** One replica as seen by a client: its URL and a keep-alive agent of its own. */
export interface Replica {
  server: ServerProcess;
  agent: Agent;
}

export function replicaOf(server: ServerProcess): Replica {
  return { server, agent: new Agent({ keepAlive: true }) };
}

export function post(
  replica: Replica,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<Response> {
  const body = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const req = request(
      `${replica.server.url}/graphql`,
      {
        method: "POST",
        agent: replica.agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: not JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
