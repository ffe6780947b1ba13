import type { Plugin } from "graphql-yoga";
import type { Context } from "../builder.js";
import type { Config } from "../config.js";
import { isValidContentLength, readBodyWithin } from "../http-body.js";
import { openApiDocument } from "./openapi.js";
import { type GraphQLData, RestError, type RestReply, type Route, routes } from "./routes.js";

/** What runs a GraphQL request: the Yoga instance's own `fetch` (same plugins, context and rules). */
type GraphQLFetch = (url: string, init: RequestInit, serverContext: unknown) => Promise<Response>;

/** Top-level GraphQL error codes to HTTP statuses; any other (a masked crash) is a 500. */
const TOP_LEVEL_STATUS: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  BAD_REQUEST: 400,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 503,
};

/** Headers of the GraphQL answer worth passing on (a 429's wait, the rate-limit counters). */
const PASSED_HEADERS = ["retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"];

/** GitBook ids are `^[a-zA-Z0-9_-]+$` (EntityId); ours (UUIDs, base64url) are too. */
const ENTITY_ID = /^[a-zA-Z0-9_-]{1,200}$/;

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

const compiled: CompiledRoute[] = routes.map((route) => {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
});

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: body === undefined ? headers : { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function errorResponse(error: RestError, headers: Record<string, string> = {}): Response {
  const body = {
    error: { code: error.status, message: error.message, ...(error.reason ? { reason: error.reason } : {}) },
  };
  return json(error.status, body, { ...error.headers, ...headers });
}

function match(path: string): { routes: Array<{ route: Route; params: Record<string, string> }> } {
  const found: Array<{ route: Route; params: Record<string, string> }> = [];
  for (const { route, pattern, names } of compiled) {
    const m = pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(m[i + 1] as string);
      } catch {
        throw new RestError(400, `Invalid ${name}: malformed percent-encoding`, "VALIDATION");
      }
    });
    found.push({ route, params });
  }
  return { routes: found };
}

/** The request's JSON body: must be `application/json`, at most MAX_BODY_BYTES, valid JSON. */
async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") throw new RestError(400, "The body must be JSON (content-type: application/json)");
  const tooLarge = () => new RestError(413, `The body is larger than ${maxBytes} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && !isValidContentLength(declared))
    throw new RestError(400, "Content-Length header is invalid");
  if (Number(declared ?? 0) > maxBytes) throw tooLarge();
  const text = request.body ? (await readBodyWithin(request.body, maxBytes, tooLarge)).toString("utf8") : "";
  try {
    return JSON.parse(text);
  } catch {
    throw new RestError(400, "The body is not valid JSON");
  }
}

interface GraphQLAnswer {
  data?: GraphQLData | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** Runs the route's GraphQL document with the caller's credentials, and maps the answer. */
async function runRoute(
  route: Route,
  params: Record<string, string>,
  request: Request,
  url: URL,
  graphql: GraphQLFetch,
  serverContext: unknown,
  maxBytes: number,
): Promise<Response> {
  for (const [name, value] of Object.entries(params)) {
    if (!ENTITY_ID.test(value)) throw new RestError(400, `Invalid ${name}: must match ^[a-zA-Z0-9_-]+$`, "VALIDATION");
  }
  const body = route.body ? await readJsonBody(request, maxBytes) : undefined;
  const variables = route.variables({ params, query: url.searchParams, body });
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  for (const name of ["authorization", "x-forwarded-for", "x-request-id"]) {
    const value = request.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const response = await graphql(
    new URL("/graphql", url).toString(),
    { method: "POST", headers, body: JSON.stringify({ query: route.document, variables }), signal: request.signal },
    serverContext,
  );
  const passed: Record<string, string> = {};
  for (const name of PASSED_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) passed[name] = value;
  }
  const answer = (await response.json().catch(() => ({}))) as GraphQLAnswer;
  const first = answer.errors?.[0];
  if (first) {
    const code = first.extensions?.code ?? "";
    const status = TOP_LEVEL_STATUS[code] ?? (response.status >= 400 ? response.status : 500);
    throw new RestError(status, status === 500 ? "Unexpected error." : first.message, code || undefined, passed);
  }
  const reply: RestReply = route.reply(answer.data ?? {});
  return json(reply.status, reply.body, passed);
}

/**
 * GitBook's REST operations at /v1 (src/rest/routes.ts), served from inside the Yoga instance: each
 * request becomes one GraphQL request through `graphql` (the same Yoga's fetch), with the caller's
 * Authorization header, so authentication, the rate limit, shield rules and the domain are the ones
 * of /graphql. Placed before the rate-limit plugin: a /v1 request is counted once, as the GraphQL
 * request it makes. Also answers `GET /v1/openapi.json`.
 */
export function useRestTwin(graphql: () => GraphQLFetch, config: Config): Plugin<Record<string, unknown>, Context> {
  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      // `url` is parsed once by the server adapter: nothing more is spent on /graphql requests.
      if (url.pathname !== "/v1" && !url.pathname.startsWith("/v1/")) return;
      const path = url.pathname.slice(3);
      if (path === "/openapi.json") {
        endResponse(
          request.method === "GET" || request.method === "HEAD"
            ? json(200, openApiDocument(config.publicUrl))
            : errorResponse(new RestError(405, "Method not allowed"), { allow: "GET" }),
        );
        return;
      }
      try {
        const found = match(path).routes;
        const hit = found.find((r) => r.route.method === request.method);
        if (!hit) {
          if (found.length === 0) throw new RestError(404, `No route ${request.method} /v1${path}`);
          const allow = found.map((r) => r.route.method).join(", ");
          endResponse(errorResponse(new RestError(405, "Method not allowed"), { allow }));
          return;
        }
        endResponse(
          await runRoute(hit.route, hit.params, request, url, graphql(), serverContext, config.limits.bodyBytes),
        );
      } catch (error) {
        if (!(error instanceof RestError)) throw error;
        endResponse(errorResponse(error));
      }
    },
  };
}
