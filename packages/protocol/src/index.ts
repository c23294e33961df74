/**
 * @cairn/protocol: the versioned gRPC protocol between the Cairn runtime and
 * a user function, as generated protobuf-es descriptors and message types.
 *
 * An SDK (in any language) serves `Discovery` and the component services
 * (`EventSourcedEntities`, `ValueEntities`, `ReplicatedEntities`, `Actions`);
 * the runtime is their client. See proto/cairn/protocol/v1 for the contract.
 *
 * @example
 * ```ts
 * import { create } from "@bufbuild/protobuf";
 * import { RuntimeInfoSchema, PROTOCOL_MAJOR_VERSION } from "@cairn/protocol";
 * const info = create(RuntimeInfoSchema, { protocolMajorVersion: PROTOCOL_MAJOR_VERSION });
 * ```
 * @module
 */

/** Major version of the protocol; peers with another major refuse each other. */
export const PROTOCOL_MAJOR_VERSION = 1;
/** Minor version; a higher minor only adds optional fields and messages. */
export const PROTOCOL_MINOR_VERSION = 1;
/** Type URL prefix of plain JSON payloads: `json.cairn.dev/<TypeName>`. */
export const JSON_TYPE_URL_PREFIX = "json.cairn.dev/";
/** Capability an SDK announces (ServiceInfo.capabilities) when it serves Actions.HandleMultiplexed. */
export const CAPABILITY_MULTIPLEXED_ACTIONS = "multiplexed_actions";

export {
  ComponentOptionsSchema,
  component,
  entity_key,
  file_cairn_options,
} from "./gen/cairn/options_pb.js";
export type { ComponentOptions } from "./gen/cairn/options_pb.js";
export {
  ActionCommandSchema,
  ActionInFrameSchema,
  ActionInSchema,
  ActionOutFrameSchema,
  ActionOutSchema,
  ActionResponseSchema,
  Actions,
  file_cairn_protocol_v1_action,
} from "./gen/cairn/protocol/v1/action_pb.js";
export type {
  ActionCommand,
  ActionIn,
  ActionInFrame,
  ActionOut,
  ActionOutFrame,
  ActionResponse,
} from "./gen/cairn/protocol/v1/action_pb.js";
export {
  CancelTimerSchema,
  ChannelFailureSchema,
  ClientActionSchema,
  CloseSchema,
  CommandSchema,
  FailureSchema,
  ForwardSchema,
  MetadataEntrySchema,
  MetadataSchema,
  ReplySchema,
  ScheduleTimerSchema,
  SideEffectSchema,
  TimerActionSchema,
  file_cairn_protocol_v1_common,
} from "./gen/cairn/protocol/v1/common_pb.js";
export type {
  CancelTimer,
  ChannelFailure,
  ClientAction,
  Close,
  Command,
  Failure,
  Forward,
  Metadata,
  MetadataEntry,
  Reply,
  ScheduleTimer,
  SideEffect,
  TimerAction,
} from "./gen/cairn/protocol/v1/common_pb.js";
export {
  ComponentKind,
  ComponentKindSchema,
  ComponentSchema,
  Discovery,
  EntityOptionsSchema,
  ReplicatedEntityOptionsSchema,
  RuntimeInfoSchema,
  ServiceInfoSchema,
  SpecSchema,
  UserFunctionErrorSchema,
  file_cairn_protocol_v1_discovery,
} from "./gen/cairn/protocol/v1/discovery_pb.js";
export type {
  Component,
  EntityOptions,
  ReplicatedEntityOptions,
  RuntimeInfo,
  ServiceInfo,
  Spec,
  UserFunctionError,
} from "./gen/cairn/protocol/v1/discovery_pb.js";
export {
  EventSourcedEntities,
  EventSourcedEventSchema,
  EventSourcedInFrameSchema,
  EventSourcedInSchema,
  EventSourcedInitSchema,
  EventSourcedOutFrameSchema,
  EventSourcedOutSchema,
  EventSourcedReplySchema,
  EventSourcedSnapshotSchema,
  file_cairn_protocol_v1_event_sourced,
} from "./gen/cairn/protocol/v1/event_sourced_pb.js";
export type {
  EventSourcedEvent,
  EventSourcedIn,
  EventSourcedInFrame,
  EventSourcedInit,
  EventSourcedOut,
  EventSourcedOutFrame,
  EventSourcedReply,
  EventSourcedSnapshot,
} from "./gen/cairn/protocol/v1/event_sourced_pb.js";
export {
  ReplicatedDeltaSchema,
  ReplicatedEntities,
  ReplicatedEntityDeleteSchema,
  ReplicatedEntityInFrameSchema,
  ReplicatedEntityInSchema,
  ReplicatedEntityInitSchema,
  ReplicatedEntityOutFrameSchema,
  ReplicatedEntityOutSchema,
  ReplicatedEntityReplySchema,
  ReplicatedStateActionSchema,
  ReplicatedStreamedMessageSchema,
  StreamCancelledSchema,
  WriteConsistency,
  WriteConsistencySchema,
  file_cairn_protocol_v1_replicated_entity,
} from "./gen/cairn/protocol/v1/replicated_entity_pb.js";
export type {
  ReplicatedDelta,
  ReplicatedEntityDelete,
  ReplicatedEntityIn,
  ReplicatedEntityInFrame,
  ReplicatedEntityInit,
  ReplicatedEntityOut,
  ReplicatedEntityOutFrame,
  ReplicatedEntityReply,
  ReplicatedStateAction,
  ReplicatedStreamedMessage,
  StreamCancelled,
} from "./gen/cairn/protocol/v1/replicated_entity_pb.js";
export {
  ValueEntities,
  ValueEntityDeleteSchema,
  ValueEntityInFrameSchema,
  ValueEntityInSchema,
  ValueEntityInitSchema,
  ValueEntityOutFrameSchema,
  ValueEntityOutSchema,
  ValueEntityReplySchema,
  ValueEntityStateActionSchema,
  file_cairn_protocol_v1_value_entity,
} from "./gen/cairn/protocol/v1/value_entity_pb.js";
export type {
  ValueEntityDelete,
  ValueEntityIn,
  ValueEntityInFrame,
  ValueEntityInit,
  ValueEntityOut,
  ValueEntityOutFrame,
  ValueEntityReply,
  ValueEntityStateAction,
} from "./gen/cairn/protocol/v1/value_entity_pb.js";
export { Code, CairnError, codeName, COMMITTED_KEY } from "./errors.js";
export { escapeControlChars } from "./printable.js";
export type { EscapeOptions } from "./printable.js";
export type { CairnErrorOptions } from "./errors.js";
export { grpcServiceDefinition } from "./grpc.js";
export type { GrpcMethodDefinition } from "./grpc.js";
