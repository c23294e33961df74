/** The runtime's implementation of the admin API: catalog listing and entity inspection. */
import { fromBinary, toJson } from "@bufbuild/protobuf";
import type { DescMethod, Registry } from "@bufbuild/protobuf";
import { CairnError, Code, JSON_TYPE_URL_PREFIX } from "@cairn/protocol";
import type { Catalog } from "./core/types.js";
import type {
  AdminApi,
  AdminServiceInfo,
  EntityInspection,
  EventSourcedInspection,
  InspectOptions,
} from "./ops/index.js";
import { requestExample } from "./request-example.js";
import type { EntityRef, Store, StoredPayload } from "./store/types.js";

/** Creates the admin API over the current catalog and the store. */
export function createAdminApi(
  catalog: () => Catalog | undefined,
  store: () => Store | undefined,
  isActive: (service: string, entityId: string) => boolean,
  httpRoute: (catalog: Catalog, method: DescMethod) => { http: string; body: string } | undefined,
): AdminApi {
  return {
    services(): AdminServiceInfo[] {
      const c = catalog();
      if (c === undefined) return [];
      return [...c.services.values()].map((s) => ({
        name: s.desc.typeName,
        kind: s.kind,
        entityType: s.entityType ?? s.desc.typeName,
        methods: s.desc.methods.map((m) => {
          const http = httpRoute(c, m);
          return {
            name: m.name,
            inputType: m.input.typeName,
            outputType: m.output.typeName,
            ...(http === undefined ? {} : { http: http.http, httpBody: http.body }),
            example: requestExample(m.input),
          };
        }),
      }));
    },

    async inspectEntity(
      service: string,
      entityId: string,
      options: InspectOptions = {},
    ): Promise<EntityInspection> {
      const c = catalog();
      const s = store();
      if (c === undefined || s === undefined)
        throw new CairnError(Code.Unavailable, "the runtime is not ready yet");
      const entry =
        c.services.get(service) ?? [...c.services.values()].find((x) => x.desc.name === service);
      if (entry === undefined) {
        throw new CairnError(
          Code.NotFound,
          `no component named '${service}'; known: ${[...c.services.keys()].join(", ") || "none"}`,
        );
      }
      const ref = { entityType: entry.entityType ?? entry.desc.typeName, entityId };
      const base = {
        service: entry.desc.typeName,
        entityId,
        entityType: ref.entityType,
        active: isActive(entry.desc.typeName, entityId),
      };
      switch (entry.kind) {
        case "value_entity":
          return { ...base, kind: entry.kind, ...(await inspectValue(s, ref, c.registry)) };
        case "event_sourced_entity":
          return {
            ...base,
            kind: entry.kind,
            ...(await inspectJournal(s, ref, c.registry, options)),
          };
        default:
          throw new CairnError(
            Code.InvalidArgument,
            `${entry.desc.typeName} is ${entry.kind === "action" ? "an action" : `a ${entry.kind.replaceAll("_", " ")}`}: it keeps no state to inspect; inspect an event-sourced or value entity`,
          );
      }
    },
  };
}

async function inspectValue(
  store: Store,
  ref: EntityRef,
  registry: Registry,
): Promise<{ version: number; state?: unknown }> {
  const value = await store.loadValue(ref);
  if (value === undefined) return { version: 0 };
  return { version: value.version, state: decodePayload(registry, value.state) };
}

async function inspectJournal(
  store: Store,
  ref: EntityRef,
  registry: Registry,
  options: InspectOptions,
): Promise<Pick<EventSourcedInspection, "sequence" | "snapshot" | "events">> {
  const snapshot = await store.loadSnapshot(ref);
  const all = await store.loadEvents(ref, 0);
  const events =
    options.limit === undefined ? all : all.slice(Math.max(0, all.length - options.limit));
  return {
    sequence: all.length > 0 ? all[all.length - 1]!.sequence : (snapshot?.sequence ?? 0),
    ...(snapshot === undefined
      ? {}
      : {
          snapshot: { sequence: snapshot.sequence, state: decodePayload(registry, snapshot.state) },
        }),
    events: events.map((e) => ({
      sequence: e.sequence,
      offset: e.offset,
      timestamp: new Date(e.timestamp).toISOString(),
      type: payloadType(e.payload),
      payload: decodePayload(registry, e.payload),
    })),
  };
}

function payloadType(p: StoredPayload): string {
  return p.typeUrl.slice(p.typeUrl.lastIndexOf("/") + 1);
}

/** JSON view of a stored payload: JSON payloads parsed, protobuf ones decoded with the registry. */
export function decodePayload(registry: Registry, p: StoredPayload): unknown {
  if (p.typeUrl.startsWith(JSON_TYPE_URL_PREFIX)) {
    try {
      return JSON.parse(Buffer.from(p.value).toString("utf8"));
    } catch {
      return { $malformedJson: Buffer.from(p.value).toString("utf8") };
    }
  }
  const desc = registry.getMessage(payloadType(p));
  if (desc === undefined)
    return { $type: p.typeUrl, $base64: Buffer.from(p.value).toString("base64") };
  return toJson(desc, fromBinary(desc, p.value), { registry });
}
