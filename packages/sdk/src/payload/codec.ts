import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  Message,
  MessageInitShape,
  MessageShape,
  Registry,
} from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";
import { JSON_TYPE_URL_PREFIX } from "@cairn/protocol";

/** Type URL prefix of protobuf payloads, as google.protobuf.Any writes it. */
export const PROTO_TYPE_URL_PREFIX = "type.googleapis.com/";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes and decodes events and states, which may be protobuf messages or
 * plain JSON values. Protobuf messages need their schema in the registry.
 */
export interface PayloadCodec {
  /**
   * Encodes a value. `jsonTypeName` names plain JSON values in their type URL
   * (`json.cairn.dev/<jsonTypeName>`). Throws when the value cannot be encoded.
   */
  encode(value: unknown, jsonTypeName: string): Any;
  /** Decodes a payload. Throws when its type is unknown or its bytes are invalid. */
  decode(payload: Any): unknown;
}

/** A codec resolving protobuf types through `registry`. */
export function createPayloadCodec(registry: Registry): PayloadCodec {
  return {
    encode(value, jsonTypeName) {
      if (isMessage(value)) return encodeMessage(registry, value);
      return encodeJson(value, jsonTypeName);
    },
    decode(payload) {
      if (payload.typeUrl.startsWith(JSON_TYPE_URL_PREFIX)) return decodeJson(payload);
      const typeName = typeNameOf(payload.typeUrl);
      const desc = registry.getMessage(typeName);
      if (desc === undefined) {
        throw new Error(
          `cannot decode payload of type '${payload.typeUrl}': the type is not registered; add its schema to the component's 'types' option`,
        );
      }
      return fromBinary(desc, payload.value);
    },
  };
}

/** The type name in a type URL: what follows the last slash. */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/** Encodes a message of a known schema as Any (`type.googleapis.com/<typeName>`). */
export function packMessage<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any {
  const message = create(schema, init);
  return create(AnySchema, {
    typeUrl: PROTO_TYPE_URL_PREFIX + schema.typeName,
    value: toBinary(schema, message),
  });
}

/** Result of {@link unpackMessage}: the message, or why the payload does not fit. */
export type UnpackResult<D extends DescMessage> = { value: MessageShape<D> } | { error: string };

/**
 * Decodes an Any that must hold a message of `schema`. Returns an error
 * instead of throwing: command payloads are untrusted wire input.
 */
export function unpackMessage<D extends DescMessage>(
  schema: D,
  payload: Any | undefined,
): UnpackResult<D> {
  if (payload === undefined) return { value: create(schema) };
  if (typeNameOf(payload.typeUrl) !== schema.typeName) {
    return {
      error: `payload has type '${payload.typeUrl}', expected '${PROTO_TYPE_URL_PREFIX}${schema.typeName}'`,
    };
  }
  try {
    return { value: fromBinary(schema, payload.value) };
  } catch (err) {
    return { error: `payload of type '${schema.typeName}' is not valid protobuf: ${String(err)}` };
  }
}

function encodeMessage(registry: Registry, value: Message): Any {
  const desc = registry.getMessage(value.$typeName);
  if (desc === undefined) {
    throw new Error(
      `cannot encode message '${value.$typeName}': its schema is not registered; add it to the component's 'types' option`,
    );
  }
  return create(AnySchema, {
    typeUrl: PROTO_TYPE_URL_PREFIX + desc.typeName,
    value: toBinary(desc, value),
  });
}

function encodeJson(value: unknown, jsonTypeName: string): Any {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new Error(
      `cannot encode ${jsonTypeName} as JSON: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  // JSON.stringify answers undefined (not an error) for undefined, functions and symbols.
  if (text === undefined)
    throw new Error(`cannot encode ${jsonTypeName} as JSON: the value is ${typeof value}`);
  return create(AnySchema, {
    typeUrl: JSON_TYPE_URL_PREFIX + jsonTypeName,
    value: utf8Encoder.encode(text),
  });
}

function decodeJson(payload: Any): unknown {
  return JSON.parse(utf8Decoder.decode(payload.value)) as unknown;
}
