/**
 * A login session: a value entity per session id. Login and Touch
 * (re)schedule the durable timer "expire" at last seen + ttl; when it fires,
 * Expire deletes the session if it stayed idle, or schedules itself again
 * (a Touch may have moved the deadline while the timer was in flight).
 */
import { CommandError, Code, valueEntity } from "@cairn/sdk";
import type { ValueEntityCommandContext } from "@cairn/sdk";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { UserSession } from "./gen/usersession/v1/user_session_pb.js";
import type { SessionSchema } from "./gen/usersession/v1/user_session_pb.js";

/** The stored state of a session (plain JSON); null when there is none. */
export type SessionState = {
  readonly userId: string;
  readonly ttlSeconds: number;
  readonly lastSeenEpochMs: number;
} | null;

/** Idle time after which a session expires, when Login does not say. */
export const DEFAULT_TTL_SECONDS = 1800;
/** Timer names are per entity: each session has its own "expire". */
export const EXPIRE_TIMER = "expire";

/** Options of {@link userSessionEntity}. */
export interface UserSessionOptions {
  /** The clock, in epoch milliseconds; tests pass their own. */
  now?: () => number;
}

/** Makes the session entity; `userSession` below is the one the sample serves. */
export function userSessionEntity(options: UserSessionOptions = {}) {
  const now = options.now ?? Date.now;
  return valueEntity(UserSession, {
    entityType: "user-session",
    passivationTimeoutMs: 60_000,
    initialState: (): SessionState => null,
    commands: {
      login(cmd, _state, ctx) {
        if (cmd.userId === "") throw new CommandError(Code.InvalidArgument, "user_id is empty");
        if (cmd.ttlSeconds < 0) {
          throw new CommandError(
            Code.InvalidArgument,
            `ttl_seconds must not be negative, got ${cmd.ttlSeconds}`,
          );
        }
        const ttlSeconds = cmd.ttlSeconds === 0 ? DEFAULT_TTL_SECONDS : cmd.ttlSeconds;
        return toSession(ctx.entityId, seen(ctx, { userId: cmd.userId, ttlSeconds }, now()));
      },
      touch(_cmd, state, ctx) {
        return toSession(ctx.entityId, seen(ctx, existing(state, ctx.entityId), now()));
      },
      get(_cmd, state, ctx) {
        return toSession(ctx.entityId, existing(state, ctx.entityId));
      },
      logout(_cmd, state, ctx) {
        ctx.deleteState();
        ctx.timers.cancel(EXPIRE_TIMER);
        return { sessionId: ctx.entityId, userId: state?.userId ?? "", loggedIn: false };
      },
      expire(_cmd, state, ctx) {
        // A timer that fires after a logout must still succeed, or the
        // runtime would retry it forever.
        if (state === null) return { sessionId: ctx.entityId, loggedIn: false };
        const due = expiresAt(state);
        if (now() >= due) {
          ctx.deleteState();
          return { sessionId: ctx.entityId, userId: state.userId, loggedIn: false };
        }
        scheduleExpiry(ctx, due);
        return toSession(ctx.entityId, state);
      },
    },
  });
}

/** The session served by the sample. */
export const userSession = userSessionEntity();

type Ctx = ValueEntityCommandContext<SessionState>;

/** Records activity: stores the new last-seen time and moves the expiry timer. */
function seen(
  ctx: Ctx,
  session: { userId: string; ttlSeconds: number },
  at: number,
): NonNullable<SessionState> {
  const next = { userId: session.userId, ttlSeconds: session.ttlSeconds, lastSeenEpochMs: at };
  ctx.updateState(next);
  scheduleExpiry(ctx, expiresAt(next));
  return next;
}

function scheduleExpiry(ctx: Ctx, at: number): void {
  ctx.timers.schedule(
    EXPIRE_TIMER,
    UserSession.method.expire,
    { sessionId: ctx.entityId },
    { at: new Date(at) },
  );
}

function existing(state: SessionState, sessionId: string): NonNullable<SessionState> {
  if (state === null) throw new CommandError(Code.NotFound, `no session '${sessionId}'`);
  return state;
}

function expiresAt(state: NonNullable<SessionState>): number {
  return state.lastSeenEpochMs + state.ttlSeconds * 1000;
}

function toSession(
  sessionId: string,
  state: NonNullable<SessionState>,
): MessageInitShape<typeof SessionSchema> {
  return {
    sessionId,
    userId: state.userId,
    loggedIn: true,
    lastSeenEpochMs: BigInt(state.lastSeenEpochMs),
    expiresEpochMs: BigInt(expiresAt(state)),
  };
}
