import type { Plugin } from "graphql-yoga";
import type { Config } from "../../config.js";
import type { Context } from "../../graphql/builder.js";
import type { Logger } from "../../observability/logger.js";
import { isValidContentLength, readBodyWithin } from "../body.js";
import { openApiDocument } from "./openapi.js";
import { type GraphQLData, RestError, type RestReply, type Route, routes } from "./routes.js";

/** What runs a GraphQL request: the Yoga instance's own `fetch` (same plugins, context and rules). */
type GraphQLFetch = (request: Request, serverContext: unknown) => Promise<Response>;

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

function errorResponse(error: RestError): Response {
  const body = { error: { code: error.status, message: error.message, reason: error.reason } };
  return json(error.status, body, error.headers);
}

/** Whether a path is the REST twin's (`/v1` and below). */
export function isRestPath(pathname: string): boolean {
  return pathname === "/v1" || pathname.startsWith("/v1/");
}

/** GitBook's error answer, `{ error: { code, message, reason } }`: also the rate limit's 429 under /v1. */
export function restErrorResponse(
  status: number,
  message: string,
  reason: string,
  headers: Record<string, string>,
): Response {
  return errorResponse(new RestError(status, message, reason, headers));
}

/**
 * The GraphQL requests the twin made, each to the /v1 request it was made for. The rate limit
 * counted that /v1 request already (src/http/plugins/rate-limit.ts useRequestRateLimit), so it lets these through
 * uncounted; src/http/plugins/observability.ts logs and counts them as their /v1 request. Only this module adds
 * to the map, and only Request objects it built: no header a client could send marks one.
 */
const twinRequests = new WeakMap<Request, Request>();
/** The `reason` of the error each /v1 request was answered with, for its log line. */
const errorReasons = new WeakMap<Request, string>();

/** Whether `request` is a GraphQL request the REST twin made for a /v1 request. */
export function isRestTwinRequest(request: Request): boolean {
  return twinRequests.has(request);
}

/** The /v1 request the GraphQL request `request` was made for (isRestTwinRequest), if it is one. */
export function restRequestOf(request: Request): Request | undefined {
  return twinRequests.get(request);
}

/** The `reason` of the error body the twin answered the /v1 request `request` with, if it did. */
export function restErrorReason(request: Request): string | undefined {
  return errorReasons.get(request);
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
  if (type !== "application/json") {
    throw new RestError(400, "The body must be JSON (content-type: application/json)", "BAD_REQUEST");
  }
  // The codes /graphql gives for the same refusals (src/http/plugins/body-size-limit.ts).
  const tooLarge = () => new RestError(413, `The body is larger than ${maxBytes} bytes`, "REQUEST_ENTITY_TOO_LARGE");
  const declared = request.headers.get("content-length");
  if (declared !== null && !isValidContentLength(declared)) {
    throw new RestError(400, "Content-Length header is invalid", "BAD_REQUEST");
  }
  if (Number(declared ?? 0) > maxBytes) throw tooLarge();
  // Past the limit the reading stops, which ends the connection: the 413 says so (`Connection: close`),
  // or a client would send its next request on it and get a reset connection instead of an answer.
  const tooLargeRead = () =>
    new RestError(413, `The body is larger than ${maxBytes} bytes`, "REQUEST_ENTITY_TOO_LARGE", {
      connection: "close",
    });
  // A body the client stops sending (it closes the connection half-way): Node's `ECONNRESET`
  // "aborted" was a 500 logged as an unexpected error. A 400, as Node answers a body cut short.
  const cutShort = (error: unknown) => {
    if (!request.signal.aborted || error instanceof RestError) throw error;
    throw new RestError(400, "The body was cut short: the client closed the connection", "BAD_REQUEST");
  };
  const text = request.body
    ? (await readBodyWithin(request.body, maxBytes, tooLargeRead).catch(cutShort)).toString("utf8")
    : "";
  if (text.trim() === "")
    throw new RestError(400, "The body is empty: this operation needs a JSON object", "BAD_REQUEST");
  try {
    return JSON.parse(text);
  } catch {
    throw new RestError(400, "The body is not valid JSON", "BAD_REQUEST");
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
  RequestClass: typeof Request,
  publicUrl: string,
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
  const inner = new RequestClass(new URL("/graphql", url).toString(), {
    method: "POST",
    headers,
    body: JSON.stringify({ query: route.document, variables }),
    signal: request.signal,
  });
  twinRequests.set(inner, request);
  const response = await graphql(inner, serverContext);
  const passed: Record<string, string> = {};
  for (const name of PASSED_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) passed[name] = value;
  }
  const answer = (await response.json().catch(() => ({}))) as GraphQLAnswer;
  const first = answer.errors?.[0];
  if (first) {
    const code = first.extensions?.code;
    const status = (code ? TOP_LEVEL_STATUS[code] : undefined) ?? (response.status >= 400 ? response.status : 500);
    if (status === 500) throw new RestError(500, "Unexpected error.", "INTERNAL_SERVER_ERROR", passed);
    throw new RestError(
      status,
      first.message,
      code ?? (status >= 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST"),
      passed,
    );
  }
  const reply: RestReply = route.reply(answer.data ?? {}, { params, publicUrl });
  return json(reply.status, reply.body, passed);
}

/**
 * GitBook's REST operations at /v1 (src/http/rest/routes.ts), served from inside the Yoga instance: each
 * request becomes one GraphQL request through `graphql` (the same Yoga's fetch), with the caller's
 * Authorization header, so authentication, shield rules and the domain are the ones of /graphql.
 * Placed after the rate-limit plugin, which counts every /v1 request once (those answered here
 * without GraphQL too: a 404, a 405, a bad body, the OpenAPI document) and lets the GraphQL request
 * it makes through uncounted (isRestTwinRequest). Also answers `GET /v1/openapi.json`.
 */
export function useRestTwin(
  graphql: () => GraphQLFetch,
  config: Config,
  /** The logger of a request (its lines carry its reqId): for the twin's own unexpected errors. */
  log: (request: Request) => Logger,
): Plugin<Record<string, unknown>, Context> {
  const answer = async (
    request: Request,
    url: URL,
    serverContext: unknown,
    RequestClass: typeof Request,
  ): Promise<Response> => {
    const path = url.pathname.slice(3);
    if (path === "/openapi.json") {
      if (request.method !== "GET" && request.method !== "HEAD") {
        throw new RestError(405, "Method not allowed: use GET", "METHOD_NOT_ALLOWED", { allow: "GET" });
      }
      return json(200, openApiDocument(config.publicUrl));
    }
    const found = match(path).routes;
    const hit = found.find((r) => r.route.method === request.method);
    if (!hit) {
      if (found.length === 0) throw new RestError(404, `No route ${request.method} /v1${path}`, "NOT_FOUND");
      const allow = found.map((r) => r.route.method).join(", ");
      throw new RestError(405, `Method not allowed: use ${allow}`, "METHOD_NOT_ALLOWED", { allow });
    }
    return runRoute(
      hit.route,
      hit.params,
      request,
      url,
      graphql(),
      serverContext,
      config.limits.bodyBytes,
      RequestClass,
      config.publicUrl,
    );
  };
  return {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      // `url` is parsed once by the server adapter: nothing more is spent on /graphql requests.
      if (!isRestPath(url.pathname)) return;
      try {
        endResponse(await answer(request, url, serverContext, fetchAPI.Request));
      } catch (error) {
        // A bug here (a GraphQL answer of a shape the route did not expect) is masked like one in a
        // resolver: thrown on, the server adapter would send its stack to the client, unlogged.
        if (!(error instanceof RestError)) log(request).error({ err: error }, "unexpected error");
        const refusal =
          error instanceof RestError ? error : new RestError(500, "Unexpected error.", "INTERNAL_SERVER_ERROR");
        errorReasons.set(request, refusal.reason);
        endResponse(errorResponse(refusal));
      }
    },
  };
}
