/**
 * Entity keys: the `(cairn.entity_key)` field(s) of a request, joined by
 * "/". The ingress reads the key from the message it decodes anyway and
 * passes it on in {@link Invocation.entityKey}; calls the runtime makes
 * itself (forwards, effects, timers) carry only bytes, and are decoded here.
 */
import { fromBinary, getOption } from "@bufbuild/protobuf";
import type { DescField, DescMessage, DescMethod } from "@bufbuild/protobuf";
import { CairnError, Code, entity_key } from "@cairn/protocol";
import type { Invocation } from "./types.js";

const keyCache = new WeakMap<DescMessage, readonly DescField[]>();

/** Request fields annotated with (cairn.entity_key), in field-number order. */
export function entityKeyFields(message: DescMessage): readonly DescField[] {
  let fields = keyCache.get(message);
  if (fields === undefined) {
    fields = message.fields
      .filter((f) => getOption(f, entity_key))
      .sort((a, b) => a.number - b.number);
    keyCache.set(message, fields);
  }
  return fields;
}

/** The key of a decoded request message of `method`. */
export function entityKeyOf(
  method: DescMethod,
  message: Record<string, unknown>,
): { value: string } | { error: CairnError } {
  const input = method.input;
  const parts: string[] = [];
  for (const field of entityKeyFields(input)) {
    const value = message[field.localName];
    // Key fields are scalars (checked at discovery): string, number or bigint.
    const text =
      typeof value === "string"
        ? value
        : typeof value === "number" || typeof value === "bigint"
          ? value.toString()
          : "";
    if (text === "") {
      return {
        error: new CairnError(
          Code.InvalidArgument,
          `entity key field '${field.name}' is empty in request ${method.parent.typeName}/${method.name}`,
        ),
      };
    }
    parts.push(text);
  }
  if (parts.length === 0) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `request ${input.typeName} has no (cairn.entity_key) field`,
      ),
    };
  }
  return { value: parts.join("/") };
}

/** The default of runtime option `maxEntityIdBytes`. */
export const DEFAULT_MAX_ENTITY_ID_BYTES = 1024;

/**
 * The entity key of an invocation (the one the ingress passed on, else
 * decoded from the input), refused when longer than `maxBytes` in UTF-8.
 * Every call to an entity passes here (a client's on any protocol, a
 * ctx.call, a forward, an effect, a timer), so the limit has one place.
 */
export function entityKey(
  invocation: Invocation,
  maxBytes: number = DEFAULT_MAX_ENTITY_ID_BYTES,
): { value: string } | { error: CairnError } {
  const key = rawEntityKey(invocation);
  if ("error" in key) return key;
  // Cheap first: a UTF-8 encoding is at most 3 bytes per UTF-16 unit.
  if (key.value.length * 3 <= maxBytes) return key;
  const bytes = Buffer.byteLength(key.value, "utf8");
  if (bytes <= maxBytes) return key;
  const { method } = invocation;
  return {
    error: new CairnError(
      Code.InvalidArgument,
      `entity id in request ${method.parent.typeName}/${method.name} is ${bytes} bytes, the limit is ${maxBytes} bytes (maxEntityIdBytes)`,
    ),
  };
}

function rawEntityKey(invocation: Invocation): { value: string } | { error: CairnError } {
  if (invocation.entityKey !== undefined) return { value: invocation.entityKey };
  const { method } = invocation;
  let message: Record<string, unknown>;
  try {
    message = fromBinary(method.input, invocation.input);
  } catch (err) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `malformed ${method.input.typeName} in request ${method.parent.typeName}/${method.name}: ${(err as Error).message}`,
      ),
    };
  }
  return entityKeyOf(method, message);
}
