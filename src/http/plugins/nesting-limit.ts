import { GraphQLError, Lexer, Source, TokenKind } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * graphql-js parses recursively: a document of 12,000 unclosed `{ a ` overflowed the stack inside the
 * parser (before graphql-armor's token or depth limits could answer) and came back as a 500. Before
 * anything parses, the document is read once with graphql-js' own lexer, which is iterative, counting
 * how deep its brackets nest; past `limit` the request is a 400 with BAD_USER_INPUT. The lexer stops
 * at the first token past the limit, and at MAX_TOKENS' worth of tokens (armor's parser counts them
 * again and answers for those).
 */
export function useNestingLimit(limit: number, maxTokens: number): Plugin {
  return {
    onParse({ params }) {
      const body = typeof params.source === "string" ? params.source : params.source.body;
      if (nestingDepthExceeds(body, limit, maxTokens)) {
        throw new GraphQLError(`The document nests deeper than ${limit} brackets`, {
          extensions: { code: "BAD_USER_INPUT", http: { status: 400 } },
        });
      }
    },
  };
}

const OPENING = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

function nestingDepthExceeds(body: string, limit: number, maxTokens: number): boolean {
  const lexer = new Lexer(new Source(body));
  let depth = 0;
  try {
    let count = 0;
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF && count < maxTokens; token = lexer.advance()) {
      count += 1;
      if (OPENING.has(token.kind)) {
        depth += 1;
        if (depth > limit) return true;
      } else if (CLOSING.has(token.kind)) {
        depth -= 1;
      }
    }
  } catch {
    // A syntax error: the parser reports it, with its location.
  }
  return false;
}
