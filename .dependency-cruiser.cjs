// `npm run lint` runs this check (dependency-cruiser) over src/: no circular imports, and no import
// that points up the layers below. A lazy `await import()` and an `import type` count as imports.
// docs/architecture.md, "Layers and the dependency rule", explains the order.

/** The layers, top to bottom: a module may import its own layer or a lower one, never a higher one. */
const LAYERS = [
  { name: "entries", path: "^src/(server|cli)\\.ts$" },
  // operator/ and http/ are side by side: neither imports the other.
  { name: "operator", path: "^src/operator/", rank: 1 },
  { name: "http", path: "^src/http/", rank: 1 },
  { name: "auth", path: "^src/auth/" },
  { name: "graphql", path: "^src/graphql/" },
  { name: "events", path: "^src/events/" },
  { name: "domain", path: "^src/domain/" },
  { name: "db", path: "^src/(db|generated)/" },
  { name: "observability", path: "^src/observability/" },
  { name: "config", path: "^src/config\\.ts$" },
];
// The rank of each layer: its place from the top, siblings sharing one.
let rank = -1;
for (const [index, layer] of LAYERS.entries()) {
  rank = layer.rank !== undefined && index > 0 && LAYERS[index - 1].rank === layer.rank ? rank : rank + 1;
  layer.level = rank;
}

const upward = LAYERS.flatMap((lower) => {
  const higher = LAYERS.filter((other) => other !== lower && other.level <= lower.level);
  if (higher.length === 0) return [];
  return [
    {
      name: `no-upward-import-from-${lower.name}`,
      comment: `${lower.name} is below ${higher.map((h) => h.name).join(", ")}: it may not import them.`,
      severity: "error",
      from: { path: lower.path },
      to: { path: higher.map((h) => h.path) },
    },
  ];
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "A circle of imports (lazy ones too): move the shared part down into its own module.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: "domain-without-graphql",
      comment: "The domain is plain functions over Prisma: no GraphQL package, no HTTP.",
      severity: "error",
      from: { path: "^src/domain/" },
      to: {
        path: "^node_modules/(graphql|graphql-yoga|graphql-shield|graphql-ws|@graphql-yoga|@pothos|@envelop|ws)/",
      },
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that resolves to nothing: a path left over from a move.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Prisma's generated client (circular among itself) is a leaf of the db layer: not followed.
    doNotFollow: { path: ["node_modules", "^src/generated/"] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json", ".d.ts"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
