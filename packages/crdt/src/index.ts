/**
 * `@cairn/crdt`: delta-state CRDTs for Cairn's replicated entities.
 *
 * Every type is a class constructed with the replica's id. Local mutations
 * change the state at once and accumulate a delta; ship `takeDelta()` bytes
 * to the other replicas and `applyDelta()` them there. Deltas may be lost,
 * repeated or reordered: a later `merge(encodeState())`, or the anti-entropy
 * pair `encodeContext()` / `missingFor()`, repairs any gap.
 *
 * ```ts
 * import { PNCounter } from "@cairn/crdt";
 * const a = new PNCounter("node-a");
 * const b = new PNCounter("node-b");
 * a.increment(3);
 * b.decrement();
 * b.applyDelta(a.takeDelta()!);
 * a.applyDelta(b.takeDelta()!);
 * a.value === b.value; // true: 2
 * ```
 *
 * @module
 */

// For users.
export { Crdt } from "./crdt.js";
export { GCounter, PNCounter } from "./types/counters.js";
export { GSet, ORSet } from "./types/sets.js";
export { LWWRegister, defaultClock, reverseClock } from "./types/lww-register.js";
export type { Clock, LWWRegisterOptions } from "./types/lww-register.js";
export { Flag, Vote } from "./types/flag-vote.js";
export type { VoteValue } from "./kernels/registers.js";
export { ORMap } from "./types/or-map.js";
export type { AnyValueCrdt, CrdtType } from "./types/or-map.js";
export { CrdtError } from "./errors.js";
export type { CrdtErrorCode } from "./errors.js";
export { canonicalKey } from "./value.js";
export type { Value } from "./value.js";
export type { TypeName } from "./kernel.js";

// For the runtime: route and create CRDTs from their encodings.
export { FORMAT_VERSION, readHeader } from "./envelope.js";
export type { EnvelopeHeader, EnvelopeKind } from "./envelope.js";
export { createCrdt, decodeState } from "./factory.js";
export type { AnyCrdt } from "./factory.js";
