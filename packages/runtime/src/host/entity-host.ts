/**
 * Keeps the active entities (event-sourced, value and replicated) of this node: creates them on the
 * first command, passivates them when idle past their component's timeout,
 * and drains them on shutdown.
 */
import { CairnError, Code, codeName } from "@cairn/protocol";
import { every } from "../core/clock.js";
import type { CancelTimeout } from "../core/clock.js";
import type { Invocation, InvocationResult, ServiceEntry } from "../core/types.js";
import type { EntityEnv } from "./entity-env.js";
import { Entity } from "./entity.js";
import type { EntityKind, EntityReply } from "./entity-kind.js";

// The host stores entities of every kind side by side; their type
// parameters only matter inside each entity.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyEntity = Entity<any, any, any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyKind = EntityKind<any, any, EntityReply, any>;

/** The kinds the host can run, by component kind. */
export interface EntityKinds {
  readonly event_sourced_entity: AnyKind;
  readonly value_entity: AnyKind;
  readonly replicated_entity: AnyKind;
}

/** The active entities of this node. */
export class EntityHost {
  private readonly entities = new Map<string, AnyEntity>();
  private readonly stopSweeping: CancelTimeout;
  private draining = false;

  constructor(
    private readonly env: EntityEnv,
    private readonly kinds: EntityKinds,
    sweepIntervalMs = 1_000,
  ) {
    this.stopSweeping = every(env.clock, sweepIntervalMs, () => this.sweep());
  }

  /** Number of entity instances in memory. */
  get size(): number {
    return this.entities.size;
  }

  /** Routes a command to the entity `entityId` of `service`, activating it if needed. */
  handle(
    service: ServiceEntry,
    entityId: string,
    invocation: Invocation,
  ): Promise<InvocationResult> {
    if (this.draining) {
      return Promise.reject(
        new CairnError(Code.Unavailable, "the runtime is shutting down; retry on another node"),
      );
    }
    const key = `${service.desc.typeName}\u0000${entityId}`;
    let entity = this.entities.get(key);
    if (entity === undefined) {
      if (service.kind === "action") {
        return Promise.reject(
          new CairnError(Code.Internal, `${service.desc.typeName} is not an entity`),
        );
      }
      entity = new Entity(service, entityId, this.env, this.kinds[service.kind]);
      this.entities.set(key, entity);
    }
    const started = performance.now();
    const serviceName = service.desc.typeName;
    const method = invocation.method.name;
    const done = (code: string) =>
      this.env.metrics.commandCompleted(
        serviceName,
        method,
        code,
        (performance.now() - started) / 1000,
      );
    return entity.handle(invocation).then(
      (result) => {
        done("OK");
        return result;
      },
      (err: unknown) => {
        const error = CairnError.from(err);
        done(codeName(error.code));
        throw error;
      },
    );
  }

  /** True when the entity is in memory with an open channel. */
  isActive(service: string, entityId: string): boolean {
    return this.entities.get(`${service}\u0000${entityId}`)?.active ?? false;
  }

  /** Passivates entities idle longer than their component's timeout. */
  sweep(now = this.env.clock.now()): void {
    for (const [key, entity] of this.entities) {
      const timeout = entity.service.passivationTimeoutMs ?? 30_000;
      if (entity.idle && now - entity.lastActive >= timeout) {
        this.entities.delete(key);
        const wasActive = entity.active;
        entity.passivate();
        if (wasActive) this.env.metrics.entityPassivated(entity.service.desc.typeName);
      }
    }
  }

  /** Refuses new commands, waits (bounded) for in-flight ones, then passivates all. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    // Real time, not the injected clock: draining waits for real work to finish.
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...this.entities.values()].some((e) => !e.idle)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.sweep(Infinity);
    this.stopSweeping();
  }
}
