import { ERROR_CODES } from "../../domain/errors.js";
import excerpt from "./gitbook-openapi-excerpt.json" with { type: "json" };
import membersExcerpt from "./gitbook-openapi-members-excerpt.json" with { type: "json" };

/**
 * The OpenAPI 3.1 document of the REST twin (`GET /v1/openapi.json`): GitBook's excerpt as it is
 * (paths relative to the server URL `/v1`, its schemas unchanged), completed with what the excerpt
 * refers to but does not hold (`Space`, `Collection`, the `NotFoundError` response), the error
 * responses every operation may give (400, 401, 403, 404, 429, 500, 503; 413 with a body), each with
 * its `reason` (the excerpt's BadRequestError is replaced by one that has it), and bearer
 * authentication. GitBook's "Organization members" operations (gitbook-openapi-members-excerpt.json, taken
 * from @gitbook/api 0.202's spec/openapi.json as it is) are merged in, with one schema changed:
 * OrganizationMember as this service knows it (see MEMBER below).
 */

// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document is walked as plain JSON.
type Json = Record<string, any>;

/**
 * The `reason` each error status may carry (src/http/rest/handler.ts, src/http/rest/routes.ts): the GraphQL
 * error code behind it, or for what the twin refuses itself the code /graphql gives for the same.
 */
const REASONS: Record<number, readonly string[]> = {
  400: [
    "VALIDATION",
    "BAD_REQUEST",
    "BAD_USER_INPUT",
    ...ERROR_CODES.filter((code) => code !== "VALIDATION" && code !== "NOT_FOUND" && code !== "RATE_LIMITED"),
  ],
  401: ["UNAUTHENTICATED"],
  403: ["FORBIDDEN"],
  404: ["NOT_FOUND"],
  405: ["METHOD_NOT_ALLOWED"],
  413: ["REQUEST_ENTITY_TOO_LARGE"],
  429: ["RATE_LIMITED"],
  500: ["INTERNAL_SERVER_ERROR"],
  503: ["SERVICE_UNAVAILABLE", "TIMEOUT"],
};

/** GitBook's error body, `{ error: { code, message } }`, with the `reason` every error of this service has. */
function errorResponse(description: string, status: number): Json {
  return {
    description,
    content: {
      "application/json": {
        schema: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              properties: {
                code: { type: "integer", format: "int32", enum: [status] },
                message: { type: "string" },
                reason: {
                  type: "string",
                  enum: REASONS[status],
                  description: "Machine-readable: what went wrong, for a client to act on (the message is for people).",
                },
              },
              required: ["code", "message", "reason"],
            },
          },
        },
      },
    },
  };
}

/** Referenced by the excerpt, missing from it: only the id is known here (another service owns them). */
const reference = (object: string) => ({
  type: "object",
  description: `A ${object}, as this service knows it: its id (${object}s belong to another service).`,
  properties: { object: { type: "string", enum: [object] }, id: { type: "string" } },
  required: ["object", "id"],
});

const ADDED_RESPONSES: Record<string, string> = {
  "400": "BadRequestError",
  "401": "UnauthorizedError",
  "403": "ForbiddenError",
  "404": "NotFoundError",
  "429": "TooManyRequestsError",
  "500": "InternalServerError",
  "503": "ServiceUnavailableError",
};

/**
 * GitBook's OrganizationMember without what this service does not have: `spaces`, `teams` and `sites`
 * (counts owned by other services) are not required and not sent; `lastSeenAt` (optional in GitBook)
 * is not recorded; `disabled` is always false. Everything else is GitBook's.
 */
function organizationMember(gitbook: Json): Json {
  const missing = ["spaces", "teams", "sites"];
  const properties = Object.fromEntries(
    Object.entries(gitbook.properties as Json).filter(([k]) => !missing.includes(k)),
  );
  return {
    ...gitbook,
    description:
      "GitBook's OrganizationMember as this service knows it: no spaces, teams or sites counts (other services own them), no lastSeenAt; disabled is always false. user.displayName is the email when the user gave no name; user.urls.location is the member's URL in this API.",
    properties,
    required: (gitbook.required as string[]).filter((k) => !missing.includes(k)),
  };
}

let cached: { publicUrl: string; document: Json } | null = null;

export function openApiDocument(publicUrl: string): Json {
  if (cached?.publicUrl === publicUrl) return cached.document;
  const base = structuredClone(excerpt) as Json;
  const members = structuredClone(membersExcerpt) as Json;
  base.paths = { ...base.paths, ...members.paths };
  base.components.parameters = { ...base.components.parameters, ...members.components.parameters };
  base.components.schemas = {
    ...base.components.schemas,
    ...members.components.schemas,
    OrganizationMember: organizationMember(members.components.schemas.OrganizationMember),
  };
  const paths: Json = {};
  for (const [path, operations] of Object.entries(base.paths as Json)) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(operations as Json)) {
      const responses: Json = { ...(operation as Json).responses };
      for (const [status, name] of Object.entries(ADDED_RESPONSES)) {
        responses[status] ??= { $ref: `#/components/responses/${name}` };
      }
      if ((operation as Json).requestBody) responses["413"] ??= { $ref: "#/components/responses/PayloadTooLargeError" };
      paths[path][method] = { ...(operation as Json), responses };
    }
  }
  const document: Json = {
    openapi: "3.1.0",
    info: {
      title: "invites-gateway REST API",
      version: "1.0.0",
      description:
        "GitBook's Organization invites and Organization members operations, served by the same GraphQL schema and rules as /graphql. Roles are lower-case; null is a guest. Errors are { error: { code, message, reason } }: code = the HTTP status, reason = a machine-readable code (VALIDATION, FORBIDDEN, NOT_FOUND, ALREADY_MEMBER, ...; each error response lists its own). Members: LAST_ADMIN (400) when a change would leave the organization without an admin; any member may DELETE themself (leaving); sort=lastSeenAt is not supported (400: not recorded). Any path answers 404 NOT_FOUND when no operation is there, and 405 METHOD_NOT_ALLOWED (with Allow) for a method it does not have.",
    },
    servers: [{ url: `${publicUrl.replace(/\/$/, "")}/v1` }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      ...base.components,
      schemas: { ...base.components.schemas, Space: reference("space"), Collection: reference("collection") },
      responses: {
        ...base.components.responses,
        BadRequestError: errorResponse("Bad Request: a body or query that does not fit, or an error result", 400),
        UnauthorizedError: errorResponse("No, or a bad, revoked or expired, bearer token", 401),
        ForbiddenError: errorResponse("Not allowed (not a member, or not an admin)", 403),
        NotFoundError: errorResponse("Not found", 404),
        MethodNotAllowedError: errorResponse("Not a method of this path (see Allow)", 405),
        PayloadTooLargeError: errorResponse("The body is larger than MAX_BODY_BYTES", 413),
        TooManyRequestsError: errorResponse("Too many requests: retry after Retry-After seconds", 429),
        InternalServerError: errorResponse("Unexpected error", 500),
        ServiceUnavailableError: errorResponse("The database is unavailable or too slow: retry later", 503),
      },
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "An API token (npm run cli -- token create) or a JWT.",
        },
      },
    },
  };
  cached = { publicUrl, document };
  return document;
}
