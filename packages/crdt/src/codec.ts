/**
 * Binary building blocks of the encoding (format version 1): unsigned
 * LEB128 varints for counts and counters (exact up to 2^53), float64 for
 * register timestamps, UTF-8 strings with a varint length prefix. A per-message
 * replica table lets every dot be written as (replica index, counter).
 */
import { CrdtError } from "./errors.js";
import type { Dot } from "./dot.js";
import { DotContext } from "./dot-context.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Growable byte writer. */
export class Writer {
  #buf = new Uint8Array(64);
  #pos = 0;
  #view = new DataView(this.#buf.buffer);

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = b;
  }

  /** Unsigned varint; `n` must be a safe non-negative integer. */
  uint(n: number): void {
    this.#ensure(8);
    while (n >= 0x80) {
      this.#buf[this.#pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#pos++] = n;
  }

  f64(n: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.#pos, n, true);
    this.#pos += 8;
  }

  string(s: string): void {
    const bytes = encoder.encode(s);
    this.uint(bytes.length);
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

/** Bounds-checked byte reader; every failure is a `malformed` CrdtError. */
export class Reader {
  #pos = 0;
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  /** Replica table of the message being read. */
  replicas: readonly string[] = [];

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.#pos >= this.#buf.length;
  }

  byte(): number {
    if (this.#pos >= this.#buf.length) throw malformed("unexpected end of data");
    return this.#buf[this.#pos++]!;
  }

  uint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw malformed(`varint ${result} exceeds 2^53`);
        return result;
      }
      scale *= 0x80;
    }
    throw malformed("varint longer than 8 bytes");
  }

  f64(): number {
    if (this.#pos + 8 > this.#buf.length) throw malformed("unexpected end of data in a float64");
    const v = this.#view.getFloat64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  string(): string {
    const len = this.uint();
    if (this.#pos + len > this.#buf.length)
      throw malformed(`string of ${len} bytes runs past the end`);
    try {
      return decoder.decode(this.#buf.subarray(this.#pos, (this.#pos += len)));
    } catch (cause) {
      throw new CrdtError("malformed", "CRDT encoding holds a string that is not valid UTF-8", {
        cause,
      });
    }
  }

  dot(): Dot {
    const index = this.uint();
    const replica = this.replicas[index];
    if (replica === undefined)
      throw malformed(`replica index ${index} outside the table of ${this.replicas.length}`);
    const counter = this.uint();
    if (counter === 0) throw malformed("dot counter 0 (counters start at 1)");
    return { replica, counter };
  }
}

/** Builds "replica id -> index" for one message; ids are sorted so output is canonical. */
export class ReplicaTable {
  readonly #ids = new Set<string>();
  #index: Map<string, number> | undefined;

  add(replica: string): void {
    this.#ids.add(replica);
  }

  write(w: Writer): void {
    const sorted = [...this.#ids].sort();
    this.#index = new Map(sorted.map((id, i) => [id, i]));
    w.uint(sorted.length);
    for (const id of sorted) w.string(id);
  }

  dot(w: Writer, dot: Dot): void {
    w.uint(this.#index!.get(dot.replica)!);
    w.uint(dot.counter);
  }

  indexOf(replica: string): number {
    return this.#index!.get(replica)!;
  }
}

/** Reads a replica table into `r.replicas`. */
export function readReplicaTable(r: Reader): void {
  const n = r.uint();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(r.string());
  r.replicas = ids;
}

/** Writes a context: per replica its index, then ranges as (gap from previous hi, length - 1). */
export function writeContext(w: Writer, ctx: DotContext, table: ReplicaTable): void {
  const replicas = [...ctx.replicas()].sort();
  w.uint(replicas.length);
  for (const replica of replicas) {
    const list = ctx.rangesOf(replica);
    w.uint(table.indexOf(replica));
    w.uint(list.length / 2);
    let prev = 0;
    for (let i = 0; i < list.length; i += 2) {
      w.uint(list[i]! - prev);
      w.uint(list[i + 1]! - list[i]!);
      prev = list[i + 1]!;
    }
  }
}

/** Inverse of {@link writeContext}. */
export function readContext(r: Reader): DotContext {
  const ctx = new DotContext();
  const n = r.uint();
  for (let k = 0; k < n; k++) {
    const index = r.uint();
    const replica = r.replicas[index];
    if (replica === undefined) throw malformed(`context replica index ${index} outside the table`);
    const count = r.uint();
    let prev = 0;
    for (let i = 0; i < count; i++) {
      const lo = prev + r.uint();
      const hi = lo + r.uint();
      if (lo <= prev) throw malformed(`context ranges of replica '${replica}' are not increasing`);
      if (!Number.isSafeInteger(hi)) throw malformed(`context range end ${hi} exceeds 2^53`);
      ctx.addRange(replica, lo, hi);
      prev = hi;
    }
  }
  return ctx;
}

export function malformed(detail: string): CrdtError {
  return new CrdtError(
    "malformed",
    `invalid CRDT encoding: ${detail}; the bytes were not produced by @cairn/crdt or were truncated`,
  );
}
