// @ts-check
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

/** One `no-restricted-imports` entry: the general patterns plus `patterns`. */
function restrictImports(files, patterns, ignores = []) {
  const general = ["@cairn/cli", "../../*/src/*"];
  return [
    {
      files,
      ...(ignores.length > 0 ? { ignores } : {}),
      rules: { "no-restricted-imports": ["error", { patterns: [...general, ...patterns] }] },
    },
  ];
}

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "**/gen/**",
      "**/node_modules/**",
      "**/*.js",
      "**/*.cjs",
      "vitest.config.ts",
      // A new project's files: type-checked by that project's tsconfig (the new-project test).
      "packages/cli/templates/**",
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // One program for sources, tests and benches (tsconfig.eslint.json);
      // run after a build, since packages resolve each other through dist.
      parserOptions: { project: ["./tsconfig.eslint.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `void p` is no handling at all: a promise whose rejection nobody
      // handles ends the process (it did, on one malformed stream message).
      // Every promise is awaited, returned, or given a rejection handler.
      "@typescript-eslint/no-floating-promises": ["error", { ignoreVoid: false }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["packages/*/src/**/*.ts"],
    rules: { "no-console": "error" },
  },
  // Dependencies point one way. ESLint applies only the last matching
  // `no-restricted-imports` entry to a file, so each entry below repeats the
  // general rule (no package reaches into another's src/ or into the CLI).
  ...restrictImports(["packages/*/src/**/*.ts"], [], ["packages/cli/src/**"]),
  // protocol and crdt import nothing of ours.
  ...restrictImports(["packages/protocol/src/**/*.ts", "packages/crdt/src/**/*.ts"], ["@cairn/*"]),
  // A user function never pulls server code.
  ...restrictImports(["packages/sdk/src/**/*.ts"], ["@cairn/runtime", "**/runtime/src/**"]),
  // Inside the runtime: core routes and carries out replies without knowing
  // how entities are hosted (a shard router stands between them in a cluster);
  // the store knows nothing above it; the ingress speaks only to core.
  ...restrictImports(
    ["packages/runtime/src/core/**/*.ts"],
    ["**/host/**", "**/ingress/**", "**/ops/**"],
  ),
  ...restrictImports(
    ["packages/runtime/src/store/**/*.ts"],
    ["**/core/**", "**/host/**", "**/ingress/**", "**/ops/**"],
  ),
  ...restrictImports(
    ["packages/runtime/src/ingress/**/*.ts"],
    ["**/host/**", "**/store/**", "**/ops/**"],
  ),
  ...restrictImports(["packages/runtime/src/host/**/*.ts"], ["**/ingress/**", "**/ops/**"]),
  // Shard ownership sits on the store and core's clock; the host asks it, not the reverse.
  ...restrictImports(
    ["packages/runtime/src/cluster/**/*.ts"],
    ["**/host/**", "**/ingress/**", "**/ops/**"],
  ),
  {
    // Tests reach PostgreSQL through one definition that honours
    // CAIRN_TEST_POSTGRES_URL (the README promises it), never a literal URL.
    files: ["**/test/**/*.ts"],
    ignores: ["packages/runtime/test/store/drivers.ts", "examples/shopping-cart/test/harness.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "Literal[value=/(127\\.0\\.0\\.1|localhost):5432/], TemplateElement[value.raw=/(127\\.0\\.0\\.1|localhost):5432/]",
          message:
            "use PG_SERVER (runtime tests) or PG_TEST_URL (examples), which honour CAIRN_TEST_POSTGRES_URL",
        },
      ],
    },
  },
  {
    files: ["**/test/**/*.ts", "bench/**/*.ts", "packages/cli/src/**/*.ts"],
    rules: {
      "no-console": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
    },
  },
);
