import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescFile, MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  ComponentKind,
  ComponentSchema,
  CAPABILITY_MULTIPLEXED_ACTIONS,
  PROTOCOL_MAJOR_VERSION,
  PROTOCOL_MINOR_VERSION,
  SpecSchema,
} from "@cairn/protocol";
import type {
  Component as WireComponent,
  RuntimeInfo,
  Spec,
  UserFunctionError,
} from "@cairn/protocol";
import type { Empty } from "@bufbuild/protobuf/wkt";
import type { EntityOptionsSchema } from "@cairn/protocol";
import type { Logger } from "../log.js";
import type { Component } from "../component.js";
import { SDK_NAME, SDK_VERSION } from "../version.js";

/** What the function announces about itself at discovery. */
export interface ServiceIdentity {
  serviceName: string;
  serviceVersion: string;
}

/** The files of the components' services and types, every import before its importer. */
export function descriptorFiles(components: readonly Component[]): DescFile[] {
  const seen = new Set<string>();
  const ordered: DescFile[] = [];
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dep of file.dependencies) visit(dep);
    ordered.push(file);
  };
  for (const component of components) {
    visit(component.service.file);
    for (const type of component.definition.types) visit(type.file);
  }
  return ordered;
}

/** The Spec answered to Discover. */
export function buildSpec(components: readonly Component[], identity: ServiceIdentity): Spec {
  const set = create(FileDescriptorSetSchema, {
    file: descriptorFiles(components).map((f) => f.proto),
  });
  return create(SpecSchema, {
    proto: toBinary(FileDescriptorSetSchema, set),
    components: components.map(wireComponent),
    serviceInfo: {
      serviceName: identity.serviceName,
      serviceVersion: identity.serviceVersion,
      serviceRuntime: `node ${process.version}`,
      supportLibraryName: SDK_NAME,
      supportLibraryVersion: SDK_VERSION,
      protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
      protocolMinorVersion: PROTOCOL_MINOR_VERSION,
      capabilities: [CAPABILITY_MULTIPLEXED_ACTIONS],
    },
  });
}

function wireComponent(component: Component): WireComponent {
  const serviceName = component.service.typeName;
  switch (component.kind) {
    case "action":
      return create(ComponentSchema, { kind: ComponentKind.ACTION, serviceName });
    case "value-entity":
      return create(ComponentSchema, {
        kind: ComponentKind.VALUE_ENTITY,
        serviceName,
        entity: entityOptions(component.definition),
      });
    case "event-sourced-entity":
      return create(ComponentSchema, {
        kind: ComponentKind.EVENT_SOURCED_ENTITY,
        serviceName,
        entity: entityOptions(component.definition),
      });
    case "replicated-entity": {
      const def = component.definition;
      return create(ComponentSchema, {
        kind: ComponentKind.REPLICATED_ENTITY,
        serviceName,
        entity: entityOptions(def, { crdtType: def.crdtType, durable: def.durable }),
      });
    }
  }
}

function entityOptions(
  def: {
    entityType: string;
    passivationTimeoutMs: number | undefined;
    snapshotEvery?: number;
  },
  replicated?: { crdtType: string; durable: boolean },
): MessageInitShape<typeof EntityOptionsSchema> {
  const ms = def.passivationTimeoutMs;
  return {
    ...(replicated === undefined ? {} : { replicated }),
    entityType: def.entityType,
    snapshotEvery: def.snapshotEvery ?? 0,
    passivationTimeout:
      ms === undefined
        ? undefined
        : { seconds: BigInt(Math.floor(ms / 1000)), nanos: Math.round((ms % 1000) * 1e6) },
  };
}

/** A component kind as RuntimeInfo.supported_component_kinds names it. */
const KIND_NAMES: Record<Component["kind"], string> = {
  "event-sourced-entity": "event_sourced_entity",
  "value-entity": "value_entity",
  "replicated-entity": "replicated_entity",
  action: "action",
};

/**
 * The components a runtime said it cannot serve (it lists the kinds it
 * serves; an empty list says nothing), so that the function can say so
 * instead of its users meeting UNIMPLEMENTED at the ingress.
 */
export function unsupportedComponents(
  components: readonly Component[],
  info: RuntimeInfo,
): Component[] {
  const supported = info.supportedComponentKinds;
  if (supported.length === 0) return [];
  return components.filter((c) => !supported.includes(KIND_NAMES[c.kind]));
}

/** Logs a warning for each component the runtime said it cannot serve. */
export function warnUnsupported(
  components: readonly Component[],
  info: RuntimeInfo,
  logger: Logger,
): void {
  for (const c of unsupportedComponents(components, info)) {
    logger({
      level: "warn",
      msg: `the runtime does not serve ${c.kind} components; ${c.service.typeName} will not be reachable (upgrade the runtime)`,
      runtime: `${info.runtimeName} ${info.runtimeVersion}`.trim(),
      supported: info.supportedComponentKinds,
    });
  }
}

/**
 * Why the runtime cannot be served, or undefined when it can: peers with
 * another major protocol version refuse each other.
 */
export function versionMismatch(info: RuntimeInfo): string | undefined {
  const theirs = info.protocolMajorVersion;
  if (theirs === PROTOCOL_MAJOR_VERSION) return undefined;
  const runtime =
    info.runtimeName === "" ? "the runtime" : `${info.runtimeName} ${info.runtimeVersion}`.trim();
  const upgrade =
    theirs > PROTOCOL_MAJOR_VERSION
      ? `upgrade ${SDK_NAME} to a version speaking protocol v${theirs}`
      : `upgrade the runtime to a version speaking protocol v${PROTOCOL_MAJOR_VERSION}`;
  return (
    `protocol version mismatch: ${runtime} speaks Cairn protocol v${theirs}.${info.protocolMinorVersion}, ` +
    `${SDK_NAME} ${SDK_VERSION} speaks v${PROTOCOL_MAJOR_VERSION}.${PROTOCOL_MINOR_VERSION}; ${upgrade}`
  );
}

/**
 * The grpc-js implementation of `Discovery`, answering the prebuilt spec;
 * `onRuntime` learns what a compatible runtime said about itself (its proxy
 * address for calls from handlers).
 */
export function discoveryService(
  spec: Spec,
  logger: Logger,
  onRuntime: (info: RuntimeInfo) => void = () => undefined,
): grpc.UntypedServiceImplementation {
  return {
    discover(call: grpc.ServerUnaryCall<RuntimeInfo, Spec>, callback: grpc.sendUnaryData<Spec>) {
      const mismatch = versionMismatch(call.request);
      if (mismatch !== undefined) {
        logger({ level: "error", msg: mismatch });
        callback({ code: grpc.status.FAILED_PRECONDITION, details: mismatch });
        return;
      }
      onRuntime(call.request);
      callback(null, spec);
    },
    reportError(
      call: grpc.ServerUnaryCall<UserFunctionError, Empty>,
      callback: grpc.sendUnaryData<Empty>,
    ) {
      const { message, serviceName, entityId } = call.request;
      logger({
        level: "error",
        msg: `runtime reported an error: ${message}`,
        serviceName,
        entityId,
      });
      callback(null, { $typeName: "google.protobuf.Empty" });
    },
  };
}
