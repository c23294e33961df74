import { create } from "@bufbuild/protobuf";
import { MetadataSchema } from "@cairn/protocol";
import type { Metadata } from "@cairn/protocol";

/** Metadata values: text, or bytes for binary headers. Keys are lower case. */
export type MetadataValue = string | Uint8Array;

/** Read-only metadata of a command, keyed by lower-case name. */
export type MetadataMap = ReadonlyMap<string, MetadataValue>;

/** Converts wire metadata to a map (a repeated key keeps its last value). */
export function metadataToMap(metadata: Metadata | undefined): MetadataMap {
  const map = new Map<string, MetadataValue>();
  for (const entry of metadata?.entries ?? []) {
    if (entry.value.case !== undefined) map.set(entry.key.toLowerCase(), entry.value.value);
  }
  return map;
}

/** Converts a map or record of metadata to its wire form; undefined when empty. */
export function metadataFromMap(
  map: MetadataMap | Readonly<Record<string, MetadataValue>> | undefined,
): Metadata | undefined {
  if (map === undefined) return undefined;
  const entries = isMap(map) ? [...map.entries()] : Object.entries(map);
  if (entries.length === 0) return undefined;
  return create(MetadataSchema, {
    entries: entries.map(([key, value]) => ({
      key: key.toLowerCase(),
      value:
        typeof value === "string"
          ? { case: "stringValue" as const, value }
          : { case: "bytesValue" as const, value },
    })),
  });
}

function isMap(value: MetadataMap | Readonly<Record<string, MetadataValue>>): value is MetadataMap {
  return value instanceof Map;
}
