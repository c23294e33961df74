import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { CairnError, Code } from "@cairn/protocol";
import { unpackMessage } from "../payload/codec.js";

/** A handler looked up by the method's proto name, with its method. */
export interface HandlerEntry<H> {
  readonly method: DescMethod;
  readonly handler: H;
}

/** A command ready to run, or the failure that answers it instead. */
export type ResolvedCommand<H> =
  { entry: HandlerEntry<H>; request: unknown } | { error: CairnError };

/**
 * Finds the handler of a command and decodes its payload as the method's
 * input. Never throws: commands are untrusted wire input, and a bad one gets
 * a failure reply naming what is wrong.
 */
export function resolveCommand<H>(
  service: DescService,
  handlers: ReadonlyMap<string, HandlerEntry<H>>,
  name: string,
  payload: Any | undefined,
): ResolvedCommand<H> {
  const entry = handlers.get(name);
  if (entry === undefined) {
    const known = [...handlers.keys()].join(", ");
    return {
      error: new CairnError(
        Code.Unimplemented,
        `method '${name}' is not implemented by ${service.typeName} (it has: ${known})`,
      ),
    };
  }
  const request = unpackMessage(entry.method.input, payload);
  if ("error" in request) {
    const message = `invalid command ${service.typeName}/${name}: ${request.error}`;
    return { error: new CairnError(Code.InvalidArgument, message) };
  }
  return { entry, request: request.value };
}

/** Handlers keyed by the method's proto name, from handlers keyed by local name. */
export function handlerMap<H>(
  service: DescService,
  handlers: Readonly<Record<string, H | undefined>>,
): Map<string, HandlerEntry<H>> {
  const map = new Map<string, HandlerEntry<H>>();
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (handler !== undefined) map.set(method.name, { method, handler });
  }
  return map;
}

/** Throws when a handler name matches no method of the service. */
export function checkHandlerNames(
  where: string,
  service: DescService,
  handlers: Readonly<Record<string, unknown>>,
): void {
  const known = new Set(service.methods.map((m) => m.localName));
  for (const name of Object.keys(handlers)) {
    if (!known.has(name))
      throw new Error(`${where}: handler '${name}' matches no method of the service`);
  }
}

/** Throws unless the passivation timeout is absent or a positive number. */
export function checkPassivation(where: string, ms: number | undefined): void {
  if (ms !== undefined && !(Number.isFinite(ms) && ms > 0)) {
    throw new Error(`${where}: 'passivationTimeoutMs' must be a positive number, got ${ms}`);
  }
}

/** Throws when an entity service has streaming methods (entities serve unary methods only). */
export function checkUnaryOnly(where: string, service: DescService): void {
  for (const method of service.methods) {
    if (method.methodKind !== "unary") {
      throw new Error(
        `${where}: method ${method.name} is ${method.methodKind}; entities serve unary methods only`,
      );
    }
  }
}
