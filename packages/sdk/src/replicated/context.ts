import type { DescMethod } from "@bufbuild/protobuf";
import type { AnyState } from "./types.js";
import { ContextBase } from "../context/base.js";
import type { Caller } from "../context/caller.js";
import type { MetadataMap } from "../payload/metadata.js";
import type {
  ReplicatedStream,
  ReplicatedStreamContext,
  WriteConsistency,
  WriteOptions,
} from "./types.js";

/** The write settings of one change. */
export interface WriteSettings {
  readonly level: WriteConsistency;
  readonly timeoutMs: number | undefined;
}

const LEVELS: readonly WriteConsistency[] = ["local", "majority", "all"];

/** A change handler of an open subscription. */
export type ChangeHandler = (crdt: AnyState, stream: ReplicatedStream<DescMethod>) => void;

/**
 * The context of one replicated entity command. The CRDT is changed in
 * place; the instance takes its delta, or rolls it back, when the handler
 * settles. Subscription handlers are recorded for the instance to keep.
 */
export class ReplicatedContextImpl
  extends ContextBase
  implements ReplicatedStreamContext<DescMethod, AnyState>
{
  write: WriteSettings;
  deleted = false;
  changeHandler: ChangeHandler | undefined;
  cancelHandler: ((crdt: AnyState) => void) | undefined;

  constructor(
    readonly entityId: string,
    method: DescMethod,
    metadata: MetadataMap,
    readonly crdt: AnyState,
    defaults: WriteSettings,
    caller: Caller,
  ) {
    super(method, metadata, caller);
    this.write = defaults;
  }

  writeConsistency(level: WriteConsistency, options: WriteOptions = {}): void {
    this.checkOpen("writeConsistency");
    if (!LEVELS.includes(level))
      throw new Error(
        `writeConsistency(${JSON.stringify(level)}): expected "local", "majority" or "all"`,
      );
    const t = options.timeoutMs;
    if (t !== undefined && !(Number.isInteger(t) && t > 0))
      throw new Error(`writeConsistency(): 'timeoutMs' must be a positive integer, got ${t}`);
    this.write = { level, timeoutMs: t ?? this.write.timeoutMs };
  }

  deleteEntity(): void {
    this.checkOpen("deleteEntity");
    this.deleted = true;
  }

  onChange(handler: ChangeHandler): void {
    this.checkStreaming("onChange");
    this.changeHandler = handler;
  }

  onCancel(handler: (crdt: AnyState) => void): void {
    this.checkStreaming("onCancel");
    this.cancelHandler = handler;
  }

  private checkStreaming(what: string): void {
    this.checkOpen(what);
    if (this.method.methodKind !== "server_streaming")
      throw new Error(
        `${what}() is for server-streaming methods; ${this.method.parent.name}.${this.method.name} is unary`,
      );
  }
}
