/** `cairn inspect <service> <entity-id>`: an entity's snapshot and events from the admin API. */
import { escapeControlChars } from "@cairn/protocol/printable";
import type { Command } from "commander";
import { CliError, EXIT_USAGE } from "../errors.js";
import { addEndpointOptions, resolveEndpoints } from "../endpoints.js";
import type { EndpointFlags } from "../endpoints.js";
import { describeFailure, request } from "../http.js";

interface InspectFlags extends EndpointFlags {
  readonly json?: boolean;
  readonly limit?: string;
}

/** The admin API's answer, as far as the views need it. */
interface Inspection {
  kind?: string;
  service: string;
  entityId: string;
  entityType?: string;
  active?: boolean;
  /** Event-sourced entities. */
  sequence?: number;
  snapshot?: { sequence: number; state: unknown };
  events?: Array<{
    sequence: number;
    offset?: number;
    timestamp?: string;
    type?: string;
    payload?: unknown;
  }>;
  /** Value entities; `state` is absent when there is none. */
  version?: number;
  state?: unknown;
}

const EXAMPLES = `
Examples:
  $ cairn inspect shop.v1.ShoppingCart c1
  $ cairn inspect ShoppingCart c1 --limit 20
  $ cairn inspect ShoppingCart c1 --json | jq '.events[].payload'
  $ cairn inspect UserSession s1 --admin-port 9190     a value entity: its state and version`;

/** Payload column width; --json shows everything. */
const PAYLOAD_WIDTH = 80;

/** Registers the `inspect` command. */
export function registerInspect(program: Command): void {
  const command = program
    .command("inspect")
    .description(
      "show an entity through the admin API: an event-sourced entity's snapshot and events, a value entity's state and version",
    )
    .argument("<service>", "component service, e.g. shop.v1.ShoppingCart (or ShoppingCart)")
    .argument("<entity-id>", "the entity's id, e.g. c1");
  addEndpointOptions(command, false)
    .option("--json", "print the raw JSON answer instead of a table")
    .option("-n, --limit <n>", "show at most the n most recent events (event-sourced entities)")
    .addHelpText("after", EXAMPLES)
    .action(async (service: string, entityId: string, flags: InspectFlags) => {
      await inspect(service, entityId, flags);
    });
}

async function inspect(service: string, entityId: string, flags: InspectFlags): Promise<void> {
  const { admin } = resolveEndpoints(flags, process.env);
  const query = flags.limit === undefined ? "" : `?limit=${parseLimit(flags.limit)}`;
  const answer = await request(
    admin,
    `/v1/entities/${encodeURIComponent(service)}/${encodeURIComponent(entityId)}${query}`,
  );
  if (!answer.ok)
    throw new CliError(`cannot inspect ${service} ${entityId}: ${describeFailure(answer)}`);
  if (flags.json === true) {
    // JSON escapes C0 controls itself; DEL, C1 and bidi marks get the same \u form.
    process.stdout.write(
      `${escapeControlChars(JSON.stringify(answer.json, null, 2), { keepNewlines: true })}\n`,
    );
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

/**
 * The human view of an entity, by its kind. Ids, types and payloads are the
 * clients' text: control characters in them are shown escaped.
 */
export function renderInspection(entity: Inspection): string {
  const text = entity.kind === "value_entity" ? renderValue(entity) : renderJournal(entity);
  return escapeControlChars(text, { keepNewlines: true });
}

function header(entity: Inspection, facts: Array<string | undefined>): string {
  const all = [
    entity.entityType === undefined ? undefined : `type ${entity.entityType}`,
    ...facts,
    entity.active === true ? "active" : "passive",
  ].filter((f) => f !== undefined);
  // A newline in an id would fake a line of the view: escaped here, the rest at the end.
  return `${escapeControlChars(entity.service)} ${escapeControlChars(entity.entityId)} (${escapeControlChars(all.join(", "))})`;
}

/** A value entity: a header with the version, then the state. */
function renderValue(entity: Inspection): string {
  const lines = [header(entity, ["value entity", `version ${entity.version ?? 0}`]), ""];
  if (!("state" in entity)) lines.push("state: none (never written, or deleted)");
  else lines.push("state:", indent(JSON.stringify(entity.state, null, 2)));
  return `${lines.join("\n")}\n`;
}

/** An event-sourced entity: a header, the snapshot, then one row per event. */
function renderJournal(entity: Inspection): string {
  const lines = [
    header(entity, [entity.sequence === undefined ? undefined : `sequence ${entity.sequence}`]),
    "",
  ];
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
      escapeControlChars(e.timestamp ?? ""),
      escapeControlChars(e.type ?? ""),
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
