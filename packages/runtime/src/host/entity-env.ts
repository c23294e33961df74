/** What an entity needs from its host; one object shared by all entities. */
import type { EventSourcedReply } from "@cairn/protocol";
import type { CairnError } from "@cairn/protocol";
import type { Logger } from "pino";
import type { Invocation, InvocationResult } from "../core/types.js";
import type { Store } from "../store/types.js";
import type { EventSourcedEntity } from "./event-sourced-entity.js";
import type { EventSourcedMux } from "./event-sourced-mux.js";
import type { HostMetrics } from "./metrics.js";

export interface EntityEnv {
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: HostMetrics;
  readonly mailboxCapacity: number;
  readonly commandTimeoutMs: number;
  readonly connection: {
    whenConnected(timeoutMs: number): Promise<boolean>;
    readonly status: string;
  };
  /** The current multiplexed stream (replaced on reconnect). */
  mux(): EventSourcedMux;
  reportError(message: string, serviceName: string, entityId: string): void;
  /** Validates forwards and effects before anything is persisted. */
  checkReply(invocation: Invocation, reply: EventSourcedReply): CairnError | undefined;
  /** After the commit: runs effects and forwards, resolves with the client's answer. */
  release(invocation: Invocation, reply: EventSourcedReply): Promise<InvocationResult>;
  activated(entity: EventSourcedEntity): void;
  deactivated(entity: EventSourcedEntity): void;
  restarted(entity: EventSourcedEntity, reason: string): void;
}
