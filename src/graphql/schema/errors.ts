import type { InputFieldMap, InputShapeFromFields, ObjectFieldsShape } from "@pothos/core";
import * as outcomes from "../../domain/errors.js";
import { DomainError, ERROR_CODES, ValidationError, type ValidationIssue } from "../../domain/errors.js";
import { builder, type Context } from "../builder.js";

export const ErrorCodeEnum = builder.enumType("ErrorCode", { values: ERROR_CODES });

export const ErrorInterface = builder.interfaceRef<DomainError>("Error").implement({
  description: "An expected failure of a mutation, returned as data. `code` is stable; `message` is for humans.",
  fields: (t) => ({
    message: t.exposeString("message"),
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
  }),
});

const ValidationIssueRef = builder.objectRef<ValidationIssue>("ValidationIssue").implement({
  fields: (t) => ({
    path: t.exposeStringList("path", { description: 'Where in the input, e.g. ["input", "emails", "2"]' }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  interfaces: [ErrorInterface] as const,
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    issues: t.field({ type: [ValidationIssueRef], resolve: (e) => e.issues }),
  }),
});

// Every other outcome of the domain (src/domain/errors.ts) is a type named as its class, with the
// interface's fields only.
for (const [name, ErrorClass] of Object.entries(outcomes)) {
  if (!isOutcomeClass(ErrorClass) || ErrorClass === ValidationError) continue;
  builder.objectType(ErrorClass as typeof outcomes.NotFoundError, {
    name,
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof ErrorClass,
    fields: () => ({}),
  });
}

function isOutcomeClass(value: unknown): value is ErrorClass {
  return typeof value === "function" && value.prototype instanceof DomainError;
}

type ErrorClass = new (...args: never[]) => DomainError;

/**
 * Errors-plugin options for a mutation named `name`: its `<Name>Result` union holds the success type
 * (directly), ValidationError and the given error types.
 */
export function mutationErrors(name: string, types: ErrorClass[]) {
  return {
    types: [ValidationError, ...types] as ErrorClass[],
    directResult: true as const,
    union: { name: `${name}Result` },
  };
}

/** The builder's schema types (for helpers that take Pothos field definitions). */
export type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer Types> ? Types : never;

/**
 * A mutation of the one error model: `field` answers `<Name>Result`, the union of `<Name>Success`
 * (its fields declared by `success`), ValidationError and the `errors` it may return. `resolve`
 * gets the arguments and the context and returns the success payload or throws a DomainError.
 */
export function resultMutation<Shape extends object, Args extends InputFieldMap>(
  field: string,
  spec: {
    description: string;
    errors: ErrorClass[];
    args: Args;
    success: ObjectFieldsShape<BuilderTypes, Shape>;
    resolve: (args: InputShapeFromFields<Args>, ctx: Context) => Promise<Shape>;
  },
): void {
  const name = field.charAt(0).toUpperCase() + field.slice(1);
  const Success = builder.objectRef<Shape>(`${name}Success`).implement({ fields: spec.success });
  builder.mutationField(field, (t) =>
    t.field({
      type: Success,
      description: spec.description,
      errors: mutationErrors(name, spec.errors),
      args: spec.args,
      // The payload is the success type's Shape; Pothos cannot follow that through the generics.
      resolve: (_root, args, ctx) => spec.resolve(args as InputShapeFromFields<Args>, ctx) as never,
    }),
  );
}
