/** What an entity needs from its host; one object shared by all entities. */
import type { CairnError, ClientAction, SideEffect, TimerAction } from "@cairn/protocol";
import type { Logger } from "pino";
import type { Invocation, InvocationResult, ServiceEntry } from "../core/types.js";
import type { HostMetrics } from "./metrics.js";

/** The part of a reply every component kind shares. */
export interface ComponentReply {
  readonly clientAction?: ClientAction | undefined;
  readonly sideEffects: readonly SideEffect[];
  readonly timers: readonly TimerAction[];
}

/** An entity as the host's callbacks see it. */
export interface EntityInfo {
  readonly service: ServiceEntry;
  readonly entityId: string;
}

export interface EntityEnv {
  readonly logger: Logger;
  readonly metrics: HostMetrics;
  readonly mailboxCapacity: number;
  readonly commandTimeoutMs: number;
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
