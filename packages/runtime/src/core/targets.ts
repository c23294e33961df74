/**
 * Finding the method a call names (a forward, an effect, a timer, a stored
 * call) in the current catalog, with errors that say what exists instead.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Catalog, ServiceEntry } from "./types.js";

/** A served method and the service it belongs to. */
export interface Target {
  readonly service: ServiceEntry;
  readonly method: DescMethod;
}

/**
 * The target `serviceName/methodName`; `what` names the call in errors
 * ("forward", "effect", "timer 'expire'"). A missing service is NOT_FOUND, a
 * missing method UNIMPLEMENTED (gRPC's code for an unknown method).
 */
export function resolveTarget(
  catalog: Catalog | undefined,
  serviceName: string,
  methodName: string,
  what: string,
): { value: Target } | { error: CairnError } {
  const service = catalog?.services.get(serviceName);
  if (service === undefined) {
    return {
      error: new CairnError(
        Code.NotFound,
        `${what} target service '${serviceName}' is not served by this user function`,
      ),
    };
  }
  const method = service.desc.methods.find((m) => m.name === methodName);
  if (method === undefined) {
    return {
      error: new CairnError(
        Code.Unimplemented,
        `${what} target method '${serviceName}/${methodName}' does not exist; ${serviceName} has ${service.desc.methods.map((m) => m.name).join(", ")}`,
      ),
    };
  }
  return { value: { service, method } };
}

/** "package.Service/Method", for messages. */
export function describeCall(invocation: {
  readonly service: ServiceEntry;
  readonly method: { readonly name: string };
}): string {
  return `${invocation.service.desc.typeName}/${invocation.method.name}`;
}
