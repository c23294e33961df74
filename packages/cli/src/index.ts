/**
 * @cairn/cli: the `cairn` command (dev, runtime, call, inspect). The package
 * is mostly used as a binary; the exports let tools embed its program or
 * reuse its option resolution.
 *
 * @example
 * ```ts
 * import { createProgram } from "@cairn/cli";
 * await createProgram("0.1.0").parseAsync(["node", "cairn", "call", "ShoppingCart/GetCart", '{"cartId":"c1"}']);
 * ```
 * @module
 */
export { createProgram } from "./program.js";
export { resolveRuntimeOptions, RUNTIME_OPTIONS } from "./options.js";
export type { OptionSources, OptionSpec } from "./options.js";
export { CliError } from "./errors.js";
