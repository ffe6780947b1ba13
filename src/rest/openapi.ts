import excerpt from "./gitbook-openapi-excerpt.json" with { type: "json" };

/**
 * The OpenAPI 3.1 document of the REST twin (`GET /v1/openapi.json`): GitBook's excerpt as it is
 * (paths relative to the server URL `/v1`, its schemas unchanged), completed with what the excerpt
 * refers to but does not hold (`Space`, `Collection`, the `NotFoundError` response), the error
 * responses every operation may give (401, 403, 404, 429), and bearer authentication.
 */

// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document is walked as plain JSON.
type Json = Record<string, any>;

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
                reason: { type: "string", description: "The service's error code (VALIDATION, NOT_FOUND, ...)." },
              },
              required: ["code", "message"],
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
};

let cached: { publicUrl: string; document: Json } | null = null;

export function openApiDocument(publicUrl: string): Json {
  if (cached?.publicUrl === publicUrl) return cached.document;
  const base = structuredClone(excerpt) as Json;
  const paths: Json = {};
  for (const [path, operations] of Object.entries(base.paths as Json)) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(operations as Json)) {
      const responses: Json = { ...(operation as Json).responses };
      for (const [status, name] of Object.entries(ADDED_RESPONSES)) {
        responses[status] ??= { $ref: `#/components/responses/${name}` };
      }
      paths[path][method] = { ...(operation as Json), responses };
    }
  }
  const document: Json = {
    openapi: "3.1.0",
    info: {
      title: "invites-gateway REST API",
      version: "1.0.0",
      description:
        "GitBook's Organization invites operations, served by the same GraphQL schema and rules as /graphql. Roles are lower-case; null is a guest. Errors are { error: { code, message } } with code = the HTTP status.",
    },
    servers: [{ url: `${publicUrl.replace(/\/$/, "")}/v1` }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      ...base.components,
      schemas: { ...base.components.schemas, Space: reference("space"), Collection: reference("collection") },
      responses: {
        ...base.components.responses,
        UnauthorizedError: errorResponse("No, or a bad, revoked or expired, bearer token", 401),
        ForbiddenError: errorResponse("Not allowed (not a member, or not an admin)", 403),
        NotFoundError: errorResponse("Not found", 404),
        TooManyRequestsError: errorResponse("Too many requests: retry after Retry-After seconds", 429),
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
