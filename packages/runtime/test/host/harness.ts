/**
 * The entity engine alone: one Entity over the real memory store, a stand-in
 * user function that plays the channel protocol as the test tells it to,
 * and a manual clock. The store is wrapped only to observe and hold its
 * writes (a held write is still the real store's, it just lands later).
 */
import { create, createRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema, EmptySchema } from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  ChannelFailureSchema,
  ClientActionSchema,
  EventSourcedOutSchema,
  ValueEntityOutSchema,
} from "@cairn/protocol";
import type {
  ClientAction,
  EventSourcedIn,
  EventSourcedOut,
  SideEffect,
  ValueEntityIn,
  ValueEntityOut,
} from "@cairn/protocol";
import { Writable } from "node:stream";
import { pino } from "pino";
import { ManualClock } from "../../src/core/clock.js";
import { Replies } from "../../src/core/replies.js";
import { durableExtras } from "../../src/core/reply-work.js";
import type { Catalog, Invocation, InvocationResult, ServiceEntry } from "../../src/core/types.js";
import type { ChannelListener, EntityChannels } from "../../src/host/channel-mux.js";
import { ActivationLimit } from "../../src/host/activation-limit.js";
import { Entity } from "../../src/host/entity.js";
import type { EntityKind, EntityReply } from "../../src/host/entity-kind.js";
import type { EntityEnv } from "../../src/host/entity-env.js";
import { eventSourcedKind } from "../../src/host/kinds/event-sourced.js";
import { valueKind } from "../../src/host/kinds/value.js";
import type { HostMetrics } from "../../src/host/metrics.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { AppendRequest, SaveValueRequest, Store } from "../../src/store/types.js";
import {
  AddLineItemSchema,
  CartSchema,
  ShoppingCart,
  file_shoppingcart_v1_shopping_cart,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";

export const CART_TYPE = "shopping-cart";

/** A command the engine sent to the stand-in function. */
export interface SentCommand {
  readonly channel: bigint;
  readonly id: bigint;
  readonly name: string;
  readonly metadata: Record<string, string>;
  /** The AddLineItem's product id. */
  readonly product: string;
}

type In = EventSourcedIn | ValueEntityIn;
type Out = EventSourcedOut | ValueEntityOut;

/**
 * The user function's side of the channels: records what the engine sends
 * and answers when the test says so. Closed channels drop what they get, as
 * the real multiplexer does.
 */
export class StandInFunction implements EntityChannels<In, Out> {
  readonly sent: In[] = [];
  private readonly listeners = new Map<bigint, ChannelListener<Out>>();
  private next = 1n;
  up = true;

  constructor(private readonly kind: "event_sourced" | "value") {}

  openChannel(listener: ChannelListener<Out>): bigint | undefined {
    if (!this.up) return undefined;
    const id = this.next++;
    this.listeners.set(id, listener);
    return id;
  }

  closeChannel(id: bigint): void {
    this.listeners.delete(id);
  }

  send(message: In): void {
    this.sent.push(message);
  }

  /** Bodies sent, as `case` names: init, event, command, close. */
  get log(): string[] {
    return this.sent.map((m) => m.body.case ?? "?");
  }

  /** Open channels. */
  get open(): bigint[] {
    return [...this.listeners.keys()];
  }

  /** Commands sent on open channels and not answered yet, oldest first. */
  get unanswered(): SentCommand[] {
    return this.commands().filter((c) => this.listeners.has(c.channel) && !this.answered.has(c.id));
  }

  private readonly answered = new Set<bigint>();

  /** Every command sent, oldest first. */
  commands(): SentCommand[] {
    const out: SentCommand[] = [];
    for (const m of this.sent) {
      if (m.body.case !== "command") continue;
      const c = m.body.value;
      const metadata: Record<string, string> = {};
      for (const e of c.metadata?.entries ?? [])
        if (e.value.case === "stringValue") metadata[e.key] = e.value.value;
      const product = c.payload ? fromBinary(AddLineItemSchema, c.payload.value).productId : "";
      out.push({ channel: m.channelId, id: c.id, name: c.name, metadata, product });
    }
    return out;
  }

  /** Events sent at init on `channel`, as the JSON text of their payloads. */
  replayed(channel: bigint): string[] {
    return this.sent
      .filter((m) => m.channelId === channel && m.body.case === "event")
      .map((m) => new TextDecoder().decode((m.body.value as { payload: Any }).payload.value));
  }

  /** Answers `command` with a reply (and events, or a new value state). */
  reply(command: SentCommand, options: ReplyOptions = {}): void {
    this.answered.add(command.id);
    const clientAction: ClientAction = options.failure
      ? create(ClientActionSchema, {
          action: { case: "failure", value: { ...options.failure, restart: !!options.restart } },
        })
      : create(ClientActionSchema, {
          action: {
            case: "reply",
            value: { payload: options.payload ?? emptyAny() },
          },
        });
    const common = {
      commandId: command.id,
      clientAction,
      sideEffects: options.effects ?? [],
      timers: [],
    };
    const listener = this.listeners.get(command.channel);
    if (listener === undefined) return;
    if (this.kind === "event_sourced") {
      listener.onMessage(
        create(EventSourcedOutSchema, {
          channelId: command.channel,
          body: {
            case: "reply",
            value: { ...common, events: (options.events ?? []).map((e) => jsonAny("Event", e)) },
          },
        }),
      );
    } else {
      listener.onMessage(
        create(ValueEntityOutSchema, {
          channelId: command.channel,
          body: {
            case: "reply",
            value: {
              ...common,
              ...(options.state === undefined
                ? {}
                : {
                    stateAction: {
                      action: { case: "update", value: jsonAny("State", options.state) },
                    },
                  }),
            },
          },
        }),
      );
    }
  }

  /** A channel-level failure naming `command`. */
  failChannel(command: SentCommand, code: number, message: string): void {
    const failure = create(ChannelFailureSchema, { code, message, commandId: command.id });
    this.listeners.get(command.channel)?.onMessage(
      create(EventSourcedOutSchema, {
        channelId: command.channel,
        body: { case: "failure", value: failure },
      }),
    );
  }

  /** The stream broke: every channel is lost. */
  lose(message = "stream reset"): void {
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    this.up = false;
    for (const l of listeners) l.onLost(new Error(message));
  }
}

/** How the stand-in answers one command. */
export interface ReplyOptions {
  /** Event-sourced: the events, as JSON texts. */
  readonly events?: string[];
  /** Value: the new state, as JSON text. */
  readonly state?: string;
  readonly payload?: Any;
  readonly failure?: { code: number; message: string };
  readonly restart?: boolean;
  readonly effects?: SideEffect[];
}

/** A plain-JSON payload, as the SDK sends them. */
export function jsonAny(type: string, json: string): Any {
  return create(AnySchema, {
    typeUrl: `json.cairn.dev/${type}`,
    value: new TextEncoder().encode(json),
  });
}

function emptyAny(): Any {
  return create(AnySchema, {
    typeUrl: "type.googleapis.com/google.protobuf.Empty",
    value: toBinary(EmptySchema, create(EmptySchema)),
  });
}

/** A Cart reply payload (the wrong type for AddItem, which returns Empty). */
export function cartAny(): Any {
  return create(AnySchema, {
    typeUrl: "type.googleapis.com/shoppingcart.v1.Cart",
    value: toBinary(CartSchema, create(CartSchema)),
  });
}

/** A store whose writes can be held back and are recorded. */
export interface HeldStore {
  /** The store as the engine sees it. */
  readonly store: Store;
  /** The store underneath, never held: another writer. */
  readonly real: Store;
  readonly appends: AppendRequest[];
  readonly saves: SaveValueRequest[];
  /** Writes wait until {@link HeldStore.release}. */
  hold(): void;
  release(): void;
  /** The next write fails with this error instead of reaching the store. */
  failNext(error: Error): void;
}

/** Wraps the real memory store: records appends and value saves, and can hold them. */
export function heldStore(real: Store = createMemoryStore()): HeldStore {
  const appends: AppendRequest[] = [];
  const saves: SaveValueRequest[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let failure: Error | undefined;
  const pass = async <T>(write: () => Promise<T>): Promise<T> => {
    if (gate !== undefined) await gate;
    const f = failure;
    failure = undefined;
    if (f !== undefined) throw f;
    return write();
  };
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop === "append")
        return (r: AppendRequest) => {
          appends.push(r);
          return pass(() => target.append(r));
        };
      if (prop === "saveValue")
        return (r: SaveValueRequest) => {
          saves.push(r);
          return pass(() => target.saveValue(r));
        };
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as () => unknown).bind(target) : value;
    },
  });
  return {
    store,
    real,
    appends,
    saves,
    hold() {
      gate ??= new Promise<void>((r) => (open = r));
    },
    release() {
      open?.();
      gate = undefined;
      open = undefined;
    },
    failNext(error) {
      failure = error;
    },
  };
}

/** What the host callbacks saw. */
export interface Observed {
  readonly restarts: string[];
  readonly activations: number;
  readonly protocolErrors: string[];
  readonly logs: Array<Record<string, unknown>>;
  readonly metrics: { restarts: Array<[string, string]>; rejections: number; limits: string[] };
}

/** Options of {@link entityHarness}. */
export interface HarnessOptions {
  readonly kind?: "event_sourced" | "value";
  readonly mailboxCapacity?: number;
  readonly commandTimeoutMs?: number;
  readonly store?: HeldStore;
  /** Shared by harnesses that stand for entities of one node. */
  readonly activations?: ActivationLimit;
}

const cartFile = file_shoppingcart_v1_shopping_cart;

/** One entity `c1` of the ShoppingCart service, and everything around it. */
export function entityHarness(options: HarnessOptions = {}) {
  const kindName = options.kind ?? "event_sourced";
  const clock = new ManualClock();
  const held = options.store ?? heldStore();
  const fn = new StandInFunction(kindName);
  const service: ServiceEntry = {
    desc: ShoppingCart,
    kind: kindName === "event_sourced" ? "event_sourced_entity" : "value_entity",
    entityType: CART_TYPE,
    passivationTimeoutMs: 30_000,
    snapshotEvery: 0,
  };
  const catalog: Catalog = {
    registry: createRegistry(cartFile),
    services: new Map([[ShoppingCart.typeName, service]]),
  };
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const observed = {
    restarts: [] as string[],
    activations: 0,
    protocolErrors: [] as string[],
    logs,
    metrics: { restarts: [] as Array<[string, string]>, rejections: 0, limits: [] as string[] },
  };
  const metrics: HostMetrics = {
    commandCompleted: () => {},
    entityActivated: () => {},
    entityPassivated: () => {},
    entityRestarted: (s, reason) => observed.metrics.restarts.push([s, reason]),
    activeEntities: () => {},
    mailboxRejected: () => observed.metrics.rejections++,
    limitRejected: (limit) => observed.metrics.limits.push(limit),
    functionConnected: () => {},
  };
  const dispatched: Invocation[] = [];
  const replies = new Replies({
    catalog: () => catalog,
    dispatcher: () => ({
      dispatch: (inv: Invocation): Promise<InvocationResult> => {
        dispatched.push(inv);
        return Promise.resolve({ output: new Uint8Array(), metadata: {} });
      },
    }),
    stored: () => {},
    maxTimerPayloadBytes: 64 * 1024,
  });
  const env: EntityEnv = {
    logger: pino({ level: "debug" }, sink),
    clock,
    metrics,
    mailboxCapacity: options.mailboxCapacity ?? 1000,
    commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
    activations: options.activations ?? new ActivationLimit(1000),
    connection: {
      whenConnected: () => Promise.resolve(fn.up),
      get status() {
        return fn.up ? "connected" : "down (stand-in)";
      },
    },
    reportError: (m) => observed.protocolErrors.push(m),
    checkReply: (inv, reply) => replies.check(inv, reply),
    release: (inv, reply) => replies.release(inv, reply),
    activated: () => observed.activations++,
    deactivated: () => {},
    restarted: (_e, reason) => observed.restarts.push(reason),
  };
  // The engine is generic over its kind; the test drives either through one type.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  const kind: EntityKind<any, any, EntityReply, any> =
    kindName === "event_sourced"
      ? eventSourcedKind(held.store, () => fn, durableExtras)
      : valueKind(held.store, () => fn, durableExtras);
  const entity = new Entity(service, "c1", env, kind);

  /** An AddItem invocation for product `p`, with a deadline `timeoutMs` from now. */
  const addItem = (p: string, timeoutMs = 10_000, metadata: Record<string, string> = {}) => {
    const invocation: Invocation = {
      service,
      method: ShoppingCart.method.addItem,
      input: toBinary(
        AddLineItemSchema,
        create(AddLineItemSchema, { cartId: "c1", productId: p, name: p, quantity: 1 }),
      ),
      metadata,
      deadline: clock.now() + timeoutMs,
    };
    return track(entity.handle(invocation));
  };

  return { clock, held, fn, entity, env, observed, dispatched, service, addItem };
}

/** A command's outcome, observable without awaiting it. */
export interface Tracked {
  readonly promise: Promise<InvocationResult>;
  settled: boolean;
  result?: InvocationResult;
  error?: { code: number; message: string };
}

/** Tracks a command so tests can check whether and how it settled. */
export function track(promise: Promise<InvocationResult>): Tracked {
  const t: Tracked = { promise, settled: false };
  promise.then(
    (r) => {
      t.settled = true;
      t.result = r;
    },
    (e: { code: number; message: string }) => {
      t.settled = true;
      t.error = { code: e.code, message: e.message };
    },
  );
  return t;
}

/**
 * Lets the event loop run until nothing more happens: the memory store
 * commits on setImmediate, so a few turns land every write queued so far.
 */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** The event payloads in the store for cart c1, as JSON texts. */
export async function journal(store: Store): Promise<string[]> {
  const events = await store.loadEvents({ entityType: CART_TYPE, entityId: "c1" }, 0);
  return events.map((e) => new TextDecoder().decode(e.payload.value));
}
