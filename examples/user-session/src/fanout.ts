/**
 * SessionFanout: a stateless action composing many sessions with ctx.call(),
 * which goes through the runtime to each session's owner.
 */
import { CairnError, Code, action } from "@cairn/sdk";
import type { Session } from "./gen/usersession/v1/user_session_pb.js";
import { SessionFanout, UserSession } from "./gen/usersession/v1/user_session_pb.js";

export const sessionFanout = action(SessionFanout, {
  handlers: {
    /** Touches every session in parallel; sessions that do not exist are listed as missing. */
    async touchAll(req, ctx) {
      checkIds(req.sessionIds);
      const results = await Promise.all(
        req.sessionIds.map((sessionId) =>
          notFoundAsUndefined(ctx.call(UserSession.method.touch, { sessionId })),
        ),
      );
      const touched: Session[] = [];
      const missing: string[] = [];
      results.forEach((session, i) => {
        if (session !== undefined) touched.push(session);
        else missing.push(req.sessionIds[i] ?? "");
      });
      return { touched, missing };
    },

    /** Touches each session named in the client's stream; missing ones are listed. */
    async touchStream(requests, ctx) {
      const touched: Session[] = [];
      const missing: string[] = [];
      for await (const req of requests) {
        checkIds([req.sessionId]);
        const session = await notFoundAsUndefined(
          ctx.call(UserSession.method.touch, { sessionId: req.sessionId }),
        );
        if (session !== undefined) touched.push(session);
        else missing.push(req.sessionId);
      }
      return { touched, missing };
    },

    /** Answers each ping of the client's stream with the session's new state (skips missing ones). */
    async *touchEach(requests, ctx) {
      for await (const req of requests) {
        checkIds([req.sessionId]);
        const session = await notFoundAsUndefined(
          ctx.call(UserSession.method.touch, { sessionId: req.sessionId }),
        );
        if (session !== undefined) yield session;
      }
    },

    /** Streams the current state of each existing session, in the order asked. */
    async *watchSessions(req, ctx) {
      checkIds(req.sessionIds);
      for (const sessionId of req.sessionIds) {
        const session = await notFoundAsUndefined(ctx.call(UserSession.method.get, { sessionId }));
        if (session !== undefined) yield session;
      }
    },
  },
});

function checkIds(ids: readonly string[]): void {
  const empty = ids.findIndex((id) => id === "");
  if (empty >= 0) throw new CairnError(Code.InvalidArgument, `session_ids[${empty}] is empty`);
}

/** A missing session is an answer here, not a failure; other failures fail the call. */
async function notFoundAsUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof CairnError && err.code === Code.NotFound) return undefined;
    throw err;
  }
}
