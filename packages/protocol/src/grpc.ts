import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";

/**
 * One method as @grpc/grpc-js describes it (structurally identical to its
 * `MethodDefinition`, so this package needs no gRPC dependency).
 */
export interface GrpcMethodDefinition<I = unknown, O = unknown> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName: string;
  requestSerialize: (value: I) => Buffer;
  requestDeserialize: (bytes: Buffer) => I;
  responseSerialize: (value: O) => Buffer;
  responseDeserialize: (bytes: Buffer) => O;
}

function serializer<D extends DescMessage>(schema: D) {
  return (value: MessageShape<D>): Buffer => {
    const bytes = toBinary(schema, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D) {
  return (bytes: Buffer): MessageShape<D> => fromBinary(schema, bytes);
}

function methodDefinition(method: DescMethod): GrpcMethodDefinition {
  const kind = method.methodKind;
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    originalName: method.localName,
    requestSerialize: serializer(method.input) as (v: unknown) => Buffer,
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output) as (v: unknown) => Buffer,
    responseDeserialize: deserializer(method.output),
  };
}

/**
 * A grpc-js service definition for a protobuf-es service descriptor, keyed by
 * the methods' local names (`handle`, `discover`). Pass it to
 * `server.addService()` or `makeGenericClientConstructor()`.
 *
 * @example
 * ```ts
 * server.addService(grpcServiceDefinition(Discovery) as grpc.ServiceDefinition, impl);
 * ```
 */
export function grpcServiceDefinition(service: DescService): Record<string, GrpcMethodDefinition> {
  const out: Record<string, GrpcMethodDefinition> = {};
  for (const method of service.methods) out[method.localName] = methodDefinition(method);
  return out;
}
