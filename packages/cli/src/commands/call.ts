/** `cairn call <Service/Method> [json]`: one call through the runtime's HTTP ingress. */
import { text } from "node:stream/consumers";
import { escapeControlChars } from "@cairn/protocol/printable";
import type { Command } from "commander";
import { CliError, EXIT_USAGE } from "../errors.js";
import { addEndpointOptions, resolveEndpoints } from "../endpoints.js";
import type { EndpointFlags } from "../endpoints.js";
import { describeFailure, request } from "../http.js";
import type { Endpoint } from "../http.js";
import { fetchServices, resolveService } from "../services.js";

interface CallFlags extends EndpointFlags {
  readonly header: string[];
}

const EXAMPLES = `
Examples:
  $ cairn call ShoppingCart/AddItem '{"cartId": "c1", "productId": "apple", "quantity": 2}'
  $ cairn call shop.v1.ShoppingCart/GetCart '{"cartId": "c1"}'
  $ echo '{"cartId": "c1"}' | cairn call ShoppingCart/GetCart -
  $ cairn call ShoppingCart/GetCart '{"cartId": "c1"}' --port 9100 --admin-port 9190
  $ cairn call ShoppingCart/GetCart '{"cartId": "c1"}' -H 'authorization: Bearer t0ken' --address http://cairn-runtime.internal:9000

A service name without a package (no dot) is looked up in the admin API
(GET <admin>/v1/services). The request goes to POST <address>/<package.Service>/<Method>.
The runtime is found as it finds its own ports: --address/--port, else
CAIRN_PORT (and CAIRN_HOST), else the --config file (CAIRN_CONFIG), else 9000;
the admin API likewise (--admin/--admin-port, CAIRN_ADMIN_PORT, 9090).`;

/** Registers the `call` command. */
export function registerCall(program: Command): void {
  const command = program
    .command("call")
    .description("call a method through the runtime's HTTP/JSON ingress and print the JSON reply")
    .argument(
      "<target>",
      "Service/Method, e.g. ShoppingCart/AddItem or shop.v1.ShoppingCart/AddItem",
    )
    .argument("[json]", "request as JSON; '-' reads it from stdin", "{}");
  addEndpointOptions(command, true)
    .option("-H, --header <name:value>", "request header, repeatable", collect, [])
    .addHelpText("after", EXAMPLES)
    .action(async (target: string, json: string, flags: CallFlags) => {
      await call(target, json, flags);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function call(target: string, json: string, flags: CallFlags): Promise<void> {
  const { ingress, admin } = resolveEndpoints(flags, process.env);
  const { service, method } = parseTarget(target);
  const headers = parseHeaders(flags.header);
  const body = await readBody(json);
  const fullName = service.includes(".") ? service : await resolveShortName(admin, service, method);

  const answer = await request(ingress, `/${fullName}/${method}`, {
    method: "POST",
    headers,
    body,
  });
  if (!answer.ok) throw new CliError(`${fullName}/${method} failed: ${describeFailure(answer)}`);
  // An empty reply (google.protobuf.Empty) prints as {}; a non-JSON one as is.
  const shown =
    answer.json !== undefined || answer.text.trim() === ""
      ? JSON.stringify(answer.json ?? {}, null, 2)
      : answer.text.trimEnd();
  process.stdout.write(`${escapeControlChars(shown, { keepNewlines: true })}\n`);
}

async function resolveShortName(admin: Endpoint, service: string, method: string): Promise<string> {
  const resolved = resolveService(service, await fetchServices(admin));
  if (!resolved.methods.some((m) => m.name === method)) {
    const known = resolved.methods.map((m) => m.name).join(", ");
    throw new CliError(
      `${resolved.name} has no method "${method}"; its methods are: ${known}`,
      EXIT_USAGE,
    );
  }
  return resolved.name;
}

/** "pkg.Service/Method" → parts; the method is after the last slash. */
export function parseTarget(target: string): { service: string; method: string } {
  const slash = target.lastIndexOf("/");
  const service = target.slice(0, slash).replace(/^\/+/, "");
  const method = target.slice(slash + 1);
  if (slash < 0 || service === "" || method === "") {
    throw new CliError(
      `invalid target "${target}": expected Service/Method, e.g. ShoppingCart/AddItem`,
      EXIT_USAGE,
    );
  }
  return { service, method };
}

function parseHeaders(raw: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  for (const entry of raw) {
    const colon = entry.indexOf(":");
    const name = colon < 0 ? "" : entry.slice(0, colon).trim();
    if (name === "")
      throw new CliError(
        `invalid --header "${entry}": expected name:value, e.g. -H 'authorization: Bearer t0ken'`,
        EXIT_USAGE,
      );
    headers[name.toLowerCase()] = entry.slice(colon + 1).trim();
  }
  return headers;
}

/** The request body, checked to be JSON before anything is sent. */
async function readBody(json: string): Promise<string> {
  const source = json === "-" ? await text(process.stdin) : json;
  try {
    JSON.parse(source);
  } catch (err) {
    const from = json === "-" ? "stdin" : "the json argument";
    throw new CliError(
      `request from ${from} is not valid JSON (${(err as Error).message}); quote it for your shell, e.g. '{"cartId": "c1"}'`,
      EXIT_USAGE,
    );
  }
  return source;
}
