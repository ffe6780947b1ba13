import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../../config.js";
import { markBadInput } from "../../graphql/errors.js";

/**
 * graphql-armor: depth, aliases, tokens and directives are checked before execution; a refused
 * request is a top-level error with extensions.code BAD_USER_INPUT. Introspection (which GraphiQL
 * and gateways need) is not counted. The cost (MAX_COST) is src/http/plugins/cost-limit.ts's: it needs the
 * request's variables, which validation never sees.
 */
export function useRequestLimits(config: Config): Plugin {
  const withCode = [(_ctx: unknown, error: GraphQLError) => markBadInput(error)];
  return EnvelopArmorPlugin({
    maxDepth: { n: config.limits.depth, ignoreIntrospection: true, flattenFragments: true, onReject: withCode },
    maxAliases: { n: config.limits.aliases, onReject: withCode },
    maxTokens: { n: config.limits.tokens, onReject: withCode },
    maxDirectives: { n: config.limits.directives, onReject: withCode },
    // src/http/plugins/cost-limit.ts counts the cost, with the request's variables.
    costLimit: { enabled: false },
    // Suggestions ("Did you mean ...?") reveal the schema: only when introspection is on.
    blockFieldSuggestion: { enabled: !config.introspection },
  }) as Plugin;
}
