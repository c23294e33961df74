// @ts-check
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "**/gen/**",
      "**/node_modules/**",
      "**/*.js",
      "**/*.cjs",
      "vitest.config.ts",
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
  {
    // Dependencies point one way: protocol and crdt import nothing of ours,
    // a user function never pulls server code.
    files: ["packages/protocol/src/**/*.ts", "packages/crdt/src/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["@cairn/*"] }] },
  },
  {
    files: ["packages/sdk/src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: ["@cairn/runtime", "@cairn/cli", "**/runtime/src/**"] },
      ],
    },
  },
  {
    files: ["packages/*/src/**/*.ts"],
    ignores: ["packages/cli/src/**"],
    rules: { "no-restricted-imports": ["error", { patterns: ["@cairn/cli", "../../*/src/*"] }] },
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
