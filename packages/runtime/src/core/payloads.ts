/** Conversions between protocol payloads (Any, Metadata) and stored or ingress forms. */
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";
import { MetadataSchema } from "@cairn/protocol";
import type { Metadata as WireMetadata } from "@cairn/protocol";
import type { StoredPayload } from "../store/types.js";
import type { Metadata } from "./types.js";

/** Type URL prefix of protobuf messages in Any. */
export const PROTO_TYPE_URL_PREFIX = "type.googleapis.com/";

export function toAny(payload: StoredPayload): Any {
  return create(AnySchema, { typeUrl: payload.typeUrl, value: payload.value });
}

export function fromAny(any: Any): StoredPayload {
  return { typeUrl: any.typeUrl, value: any.value };
}

/** The Any of a binary protobuf message of the given type. */
export function messageAny(typeName: string, bytes: Uint8Array): Any {
  return create(AnySchema, { typeUrl: PROTO_TYPE_URL_PREFIX + typeName, value: bytes });
}

/** The message type named by an Any's type URL (text after the last "/"). */
export function anyTypeName(any: Any): string {
  return any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
}

export function toWireMetadata(metadata: Metadata): WireMetadata {
  const entries = Object.entries(metadata).map(([key, value]) => ({
    key,
    value: { case: "stringValue" as const, value },
  }));
  return create(MetadataSchema, { entries });
}

export function fromWireMetadata(wire: WireMetadata | undefined): Metadata {
  const out: Metadata = {};
  if (wire === undefined) return out;
  for (const e of wire.entries) {
    if (e.value.case === "stringValue") out[e.key] = e.value.value;
    else if (e.value.case === "bytesValue")
      out[e.key] = Buffer.from(e.value.value).toString("base64");
  }
  return out;
}
