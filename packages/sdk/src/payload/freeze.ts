/**
 * Freezes a value deeply so that a handler mutating a state or an event in
 * place throws (ESM code is strict) instead of silently corrupting the state
 * the SDK restores after a failed command.
 *
 * States are usually built by spreading the previous one, so most of a new
 * state is shared with an already frozen one: the walk stops at frozen
 * objects, which makes the cost proportional to what changed, not to the
 * size of the state. Typed arrays cannot be frozen and are left as they are;
 * Maps and Sets are frozen as objects but their entries stay mutable.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) {
    deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
