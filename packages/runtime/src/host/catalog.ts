/**
 * Turns the user function's discovery answer (Spec) into the Catalog the
 * ingress and router use, and checks the contract before serving anything:
 * a wrong contract is reported once at discovery, with the fix, instead of
 * failing every request.
 */
import { fromBinary, createFileRegistry } from "@bufbuild/protobuf";
import type { DescService, FileRegistry } from "@bufbuild/protobuf";
import {
  FileDescriptorSetSchema,
  file_google_protobuf_any,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
} from "@bufbuild/protobuf/wkt";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { ComponentKind as WireKind } from "@cairn/protocol";
import type { Spec } from "@cairn/protocol";
import { entityKeyFields } from "../core/entity-key.js";
import type { Catalog, ComponentKind, ServiceEntry } from "../core/types.js";

const WELL_KNOWN = new Map<string, FileDescriptorProto>(
  [
    file_google_protobuf_any,
    file_google_protobuf_descriptor,
    file_google_protobuf_duration,
    file_google_protobuf_empty,
    file_google_protobuf_field_mask,
    file_google_protobuf_struct,
    file_google_protobuf_timestamp,
    file_google_protobuf_wrappers,
  ].map((f) => [f.proto.name, f.proto]),
);

const KINDS: Partial<Record<WireKind, ComponentKind>> = {
  [WireKind.EVENT_SOURCED_ENTITY]: "event_sourced_entity",
  [WireKind.VALUE_ENTITY]: "value_entity",
  [WireKind.REPLICATED_ENTITY]: "replicated_entity",
  [WireKind.ACTION]: "action",
};

/** The CRDT types of @cairn/crdt a replicated entity may hold. */
const CRDT_TYPES: readonly string[] = [
  "GCounter",
  "PNCounter",
  "GSet",
  "ORSet",
  "LWWRegister",
  "Flag",
  "ORMap",
  "Vote",
];

/** A catalog plus the raw descriptor set it came from (for gRPC reflection). */
export interface DiscoveredCatalog extends Catalog {
  readonly fileDescriptorSet: Uint8Array;
  readonly registry: FileRegistry;
}

/** Builds the catalog; returns an error text naming the problem and its fix. */
export function buildCatalog(
  spec: Spec,
  defaultPassivationMs: number,
): { value: DiscoveredCatalog } | { error: string } {
  const registry = parseDescriptors(spec.proto);
  if ("error" in registry) return registry;
  const services = new Map<string, ServiceEntry>();
  for (const component of spec.components) {
    const kind = KINDS[component.kind];
    if (kind === undefined)
      return { error: `component ${component.serviceName} has unknown kind ${component.kind}` };
    const desc = registry.value.getService(component.serviceName);
    if (desc === undefined) {
      return {
        error: `component ${component.serviceName} is not in the descriptor set the user function sent; check the service's full name (package + service)`,
      };
    }
    if (kind !== "action") {
      const keyError = checkEntityKeys(desc);
      if (keyError !== undefined) return { error: keyError };
    }
    const replicated = component.entity?.replicated;
    if (kind === "replicated_entity" && !CRDT_TYPES.includes(replicated?.crdtType ?? "")) {
      return {
        error: `replicated entity ${component.serviceName} declares CRDT type '${replicated?.crdtType ?? ""}'; expected one of ${CRDT_TYPES.join(", ")} (an SDK speaking protocol 1.1 sends it in EntityOptions.replicated)`,
      };
    }
    const timeout = component.entity?.passivationTimeout;
    services.set(desc.typeName, {
      desc,
      kind,
      entityType: component.entity?.entityType || desc.typeName,
      passivationTimeoutMs:
        timeout === undefined
          ? defaultPassivationMs
          : Number(timeout.seconds) * 1000 + Math.floor(timeout.nanos / 1e6),
      snapshotEvery: component.entity?.snapshotEvery ?? 0,
      ...(kind === "replicated_entity" && replicated !== undefined
        ? { replicated: { crdtType: replicated.crdtType, durable: replicated.durable } }
        : {}),
    });
  }
  return { value: { registry: registry.value, services, fileDescriptorSet: spec.proto } };
}

function parseDescriptors(bytes: Uint8Array): { value: FileRegistry } | { error: string } {
  try {
    const set = fromBinary(FileDescriptorSetSchema, bytes);
    const present = new Set(set.file.map((f) => f.name));
    // SDKs may leave well-known types out; add the ones referenced.
    for (const file of [...set.file]) {
      for (const dep of file.dependency) {
        const wkt = WELL_KNOWN.get(dep);
        if (wkt !== undefined && !present.has(dep)) {
          set.file.unshift(wkt);
          present.add(dep);
        }
      }
    }
    return { value: createFileRegistry(set) };
  } catch (err) {
    return {
      error: `the user function sent an unusable descriptor set: ${(err as Error).message}`,
    };
  }
}

function checkEntityKeys(service: DescService): string | undefined {
  for (const method of service.methods) {
    const fields = entityKeyFields(method.input);
    if (fields.length === 0) {
      return `method ${service.typeName}/${method.name}: request ${method.input.typeName} has no field marked [(cairn.entity_key) = true]; mark the field that holds the entity id`;
    }
    for (const f of fields) {
      if (f.fieldKind !== "scalar") {
        return `method ${service.typeName}/${method.name}: entity key field '${f.name}' of ${method.input.typeName} must be a string or integer field`;
      }
    }
  }
  return undefined;
}
