/**
 * Hand-made protobuf bytes: the fuzzer needs well-formed messages to
 * mutate, and malformed ones (wrong wire types, lying lengths) that no
 * protobuf library would write.
 */
import type { Rng } from "./rng.js";

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A length-delimited field (string, bytes, message). */
export function lenField(field: number, value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

/** A varint field (int32, bool). */
export function intField(field: number, value: number): Buffer {
  return Buffer.concat([varint(field << 3), varint(value)]);
}

/** A message of fields. */
export function message(...fields: Buffer[]): Buffer {
  return Buffer.concat(fields);
}

/** A message with one of a few kinds of damage; sometimes intact. */
export function mutate(rng: Rng, bytes: Buffer): Buffer {
  const kind = rng.weighted([
    [2, "intact"],
    [2, "flip"],
    [2, "truncate"],
    [1, "append"],
    [1, "random"],
    [1, "lying-length"],
    [1, "bad-wire-type"],
  ] as const);
  const out = Buffer.from(bytes);
  switch (kind) {
    case "intact":
      return out;
    case "flip":
      for (let i = rng.int(1, 4); i > 0 && out.length > 0; i--)
        out[rng.int(0, out.length - 1)] = rng.int(0, 255);
      return out;
    case "truncate":
      return out.subarray(0, rng.int(0, Math.max(0, out.length - 1)));
    case "append":
      return Buffer.concat([out, rng.bytes(rng.int(1, 16))]);
    case "random":
      return rng.bytes(rng.int(0, 64));
    case "lying-length":
      // A string field that claims far more bytes than follow.
      return Buffer.concat([out, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), rng.bytes(3)]);
    case "bad-wire-type":
      // Field 1 with wire types 3/4 (groups) or 7 (invalid).
      return Buffer.concat([Buffer.from([(1 << 3) | rng.pick([3, 4, 7])]), out]);
  }
}

/** A gRPC / gRPC-Web / Connect frame: flags, 4-byte length (maybe a lie), payload. */
export function frame(payload: Buffer, flags = 0, declared = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(declared >>> 0, 1);
  return Buffer.concat([head, payload]);
}
