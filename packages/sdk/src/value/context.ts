import type { DescMethod } from "@bufbuild/protobuf";
import { ContextBase } from "../context/base.js";
import type { Caller } from "../context/caller.js";
import { deepFreeze } from "../payload/freeze.js";
import type { MetadataMap } from "../payload/metadata.js";
import type { ValueEntityCommandContext } from "./types.js";

/** The state change a command asked for. */
export type StateChange = { kind: "update"; state: unknown } | { kind: "delete" };

/**
 * The context of one value entity command: it records the state change on
 * the side; the instance commits it only if the whole command succeeds.
 */
export class ValueContextImpl extends ContextBase implements ValueEntityCommandContext<unknown> {
  state: unknown;
  change: StateChange | undefined;

  constructor(
    readonly entityId: string,
    method: DescMethod,
    metadata: MetadataMap,
    state: unknown,
    private readonly initial: () => unknown,
    caller: Caller,
  ) {
    super(method, metadata, caller);
    this.state = state;
  }

  updateState(state: unknown): unknown {
    this.checkOpen("updateState");
    this.state = deepFreeze(state);
    this.change = { kind: "update", state: this.state };
    return this.state;
  }

  deleteState(): unknown {
    this.checkOpen("deleteState");
    this.state = deepFreeze(this.initial());
    this.change = { kind: "delete" };
    return this.state;
  }
}
