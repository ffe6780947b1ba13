import { MapperKind, mapSchema } from "@graphql-tools/utils";
import { GraphQLEnumType } from "graphql";
import { builder } from "../builder.js";
import "./errors.js";
import "./user.js";
import "./member.js";
import "./invite.js";
import "./link-invite.js";
import "./audit-event.js";
import "./organization.js";

/**
 * An Apollo Federation v2 subgraph schema (`_service`, `_entities`, `@key`, `@shareable`).
 *
 * The federation plugin returns a lexicographically sorted schema, which would list MemberRole's
 * values A-Z in introspection; the contract declares them highest first. Each enum gets back the
 * order of its definition (kept in its AST node, which `_service { sdl }` prints too).
 */
export const schema = mapSchema(builder.toSubGraphSchema({ linkUrl: "https://specs.apollo.dev/federation/v2.6" }), {
  [MapperKind.ENUM_TYPE]: (type) => {
    const declared = type.astNode?.values?.map((v) => v.name.value);
    if (!declared) return type;
    const config = type.toConfig();
    return new GraphQLEnumType({
      ...config,
      values: Object.fromEntries(declared.map((name) => [name, config.values[name] ?? {}])),
    });
  },
});
