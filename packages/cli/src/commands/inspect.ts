/** `cairn inspect <service> <entity-id>`: an entity's snapshot and events from the admin API. */
import type { Command } from "commander";
import { CliError, EXIT_USAGE } from "../errors.js";
import { checkBaseUrl, describeFailure, request } from "../http.js";
import type { Endpoint } from "../http.js";

interface InspectFlags {
  readonly admin: string;
  readonly json?: boolean;
  readonly limit?: string;
}

/** The admin API's answer, as far as the table needs it. */
interface Inspection {
  service: string;
  entityId: string;
  entityType?: string;
  sequence?: number;
  active?: boolean;
  snapshot?: { sequence: number; state: unknown };
  events?: Array<{
    sequence: number;
    offset?: number;
    timestamp?: string;
    type?: string;
    payload?: unknown;
  }>;
}

const EXAMPLES = `
Examples:
  $ cairn inspect shop.v1.ShoppingCart c1
  $ cairn inspect ShoppingCart c1 --limit 20
  $ cairn inspect ShoppingCart c1 --json | jq '.events[].payload'`;

/** Payload column width; --json shows everything. */
const PAYLOAD_WIDTH = 80;

/** Registers the `inspect` command. */
export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show an entity's snapshot and events (or state) through the admin API")
    .argument("<service>", "component service, e.g. shop.v1.ShoppingCart (or ShoppingCart)")
    .argument("<entity-id>", "the entity's id, e.g. c1")
    .option("--admin <url>", "the runtime's admin API", "http://127.0.0.1:9090")
    .option("--json", "print the raw JSON answer instead of a table")
    .option("-n, --limit <n>", "show at most the n most recent events")
    .addHelpText("after", EXAMPLES)
    .action(async (service: string, entityId: string, flags: InspectFlags) => {
      await inspect(service, entityId, flags);
    });
}

async function inspect(service: string, entityId: string, flags: InspectFlags): Promise<void> {
  const admin: Endpoint = {
    base: checkBaseUrl(flags.admin, "--admin"),
    what: "the runtime's admin API",
    flag: "--admin",
  };
  const query = flags.limit === undefined ? "" : `?limit=${parseLimit(flags.limit)}`;
  const answer = await request(
    admin,
    `/v1/entities/${encodeURIComponent(service)}/${encodeURIComponent(entityId)}${query}`,
  );
  if (!answer.ok)
    throw new CliError(`cannot inspect ${service} ${entityId}: ${describeFailure(answer)}`);
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(answer.json, null, 2)}\n`);
    return;
  }
  process.stdout.write(renderInspection(answer.json as Inspection));
}

function parseLimit(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new CliError(
      `invalid option --limit: expected a positive integer, got "${raw}"`,
      EXIT_USAGE,
    );
  }
  return Number(raw);
}

/** The human view: a header, the snapshot, then one row per event. */
export function renderInspection(entity: Inspection): string {
  const facts = [
    entity.entityType === undefined ? undefined : `type ${entity.entityType}`,
    entity.sequence === undefined ? undefined : `sequence ${entity.sequence}`,
    entity.active === true ? "active" : "passive",
  ].filter((f) => f !== undefined);
  const lines = [`${entity.service} ${entity.entityId} (${facts.join(", ")})`, ""];
  if (entity.snapshot === undefined) lines.push("snapshot: none");
  else
    lines.push(
      `snapshot at sequence ${entity.snapshot.sequence}:`,
      indent(JSON.stringify(entity.snapshot.state, null, 2)),
    );
  const events = entity.events ?? [];
  lines.push("", `events (${events.length}):`);
  if (events.length > 0) {
    const rows = events.map((e) => [
      String(e.sequence),
      String(e.offset ?? ""),
      e.timestamp ?? "",
      e.type ?? "",
      clip(JSON.stringify(e.payload) ?? ""),
    ]);
    lines.push(...table(["SEQ", "OFFSET", "TIME", "TYPE", "PAYLOAD"], rows).map((l) => `  ${l}`));
    if (rows.some((r) => r[4]?.endsWith("…")))
      lines.push("", "(payloads clipped; --json prints them whole)");
  }
  return `${lines.join("\n")}\n`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function clip(text: string): string {
  return text.length <= PAYLOAD_WIDTH ? text : `${text.slice(0, PAYLOAD_WIDTH - 1)}…`;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}
