import type { Plugin } from "graphql-yoga";
import { applyPermissions } from "../../graphql/permissions.js";

/** The rules of src/graphql/permissions.ts on the schema (applyPermissions), once, when Yoga gets its schema. */
export function useShield(): Plugin {
  return {
    onSchemaChange: ({ schema, replaceSchema }) => {
      const shielded = applyPermissions(schema);
      if (shielded !== schema) replaceSchema(shielded);
    },
  };
}
