// `npm run lint`: the checks the compiler does not make. Type-aware (each file is linted with the
// types of its tsconfig): a promise nobody awaits or handles, a switch over a union that misses a
// member, and the dependency rule between the server's folders (ARCHITECTURE.md).
import { defineConfig } from "eslint/config";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

const SERVER = "./packages/server/src";

/** The dependency rule of ARCHITECTURE.md: each folder, and the folders it must not import from. */
const FORBIDDEN_IMPORTS = {
  // The rules: no sockets, no storage, no credentials; they report through core/changes.ts.
  core: ["connection", "handlers", "persistence", "http", "auth"],
  // Storage implements core's interfaces; it knows nothing of connections or credentials.
  persistence: ["connection", "handlers", "http", "auth"],
  auth: ["connection", "handlers", "persistence", "http"],
  handlers: ["connection", "persistence", "http"],
};

export default defineConfig(
  { ignores: ["**/dist/**", "**/node_modules/**", "bench/results/**", "test/artifacts/**"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      // Config files outside every tsconfig get the default project.
      parserOptions: { projectService: { allowDefaultProject: ["*.config.ts"] }, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      // A switch over a union without a default must name every member, so that adding one to the union
      // (an op, a close code, a state) shows each place to update. A default branch is a deliberate
      // catch-all (connection.ts hands every op it does not special-case to the handler table).
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // Sources only: a test may build what it needs from any folder.
    files: [`${SERVER.slice(2)}/**/*.ts`],
    ignores: ["**/*.test.ts"],
    plugins: { "import-x": importX },
    settings: {
      // Sources import each other as ".js" (NodeNext); resolve those to the ".ts" files beside them.
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"], extensionAlias: { ".js": [".ts", ".js"] } })],
    },
    rules: {
      "import-x/no-restricted-paths": [
        "error",
        {
          zones: Object.entries(FORBIDDEN_IMPORTS).map(([folder, forbidden]) => ({
            target: `${SERVER}/${folder}`,
            from: forbidden.map((other) => `${SERVER}/${other}`),
            message: `ARCHITECTURE.md, "Dependency rule": ${folder}/ imports nothing from ${forbidden.join("/, ")}/.`,
          })),
        },
      ],
    },
  },
);
