/** What an entity needs from its host; one object shared by all entities. */
import type { CairnError } from "@cairn/protocol";
import type { Logger } from "pino";
import type { Clock } from "../core/clock.js";
import type { ComponentReply, Invocation, InvocationResult, ServiceEntry } from "../core/types.js";
import type { ActivationLimit } from "./activation-limit.js";
import type { HostMetrics } from "./metrics.js";

/** An entity as the host's callbacks see it. */
export interface EntityInfo {
  readonly service: ServiceEntry;
  readonly entityId: string;
}

/** The host's services every entity shares. */
export interface EntityEnv {
  readonly logger: Logger;
  /** Time and timeouts (command deadlines, passivation); a manual clock in tests. */
  readonly clock: Clock;
  readonly metrics: HostMetrics;
  readonly mailboxCapacity: number;
  /**
   * How long the function may take to answer one command (from when it is
   * the oldest one in flight) before the entity is restarted. A client's
   * shorter deadline only ends that client's wait.
   */
  readonly commandTimeoutMs: number;
  /** Entities activating at once on the node. */
  readonly activations: ActivationLimit;
  readonly connection: {
    whenConnected(timeoutMs: number): Promise<boolean>;
    readonly status: string;
  };
  reportError(message: string, serviceName: string, entityId: string): void;
  /** Validates forwards, effects and timers before anything is persisted. */
  checkReply(invocation: Invocation, reply: ComponentReply): CairnError | undefined;
  /** After the commit: runs effects and forwards, resolves with the client's answer. */
  release(invocation: Invocation, reply: ComponentReply): Promise<InvocationResult>;
  activated(entity: EntityInfo): void;
  deactivated(entity: EntityInfo): void;
  restarted(entity: EntityInfo, reason: string): void;
}
