import { isAsyncIterable, type Plugin } from "graphql-yoga";
import type { Context } from "../../graphql/builder.js";
import { tooManySubscriptions } from "../../graphql/errors.js";

/**
 * MAX_SUBSCRIPTIONS_PER_CALLER: the subscriptions (streams) one caller may hold open at once, in this
 * process. A caller is the viewer's user (all its tokens and JWTs together); anonymous callers are
 * not counted (no subscription lets them in). One past the limit is refused with a top-level error,
 * TOO_MANY_SUBSCRIPTIONS (HTTP 429 over SSE), before it is authorized or subscribed; its slot is
 * taken once the stream is open and given back when the stream ends for any reason: the client
 * leaves, the stream completes (a recheck refused the subscriber, shutdown) or fails.
 *
 * An envelop plugin around `subscribe`, not SSE code: every transport that runs subscriptions
 * through this Yoga instance's envelop (SSE today, graphql-ws later) shares the count.
 */
export function useSubscriptionLimit(max: number): Plugin {
  const open = new Map<string, number>();
  const full = (caller: string) => (open.get(caller) ?? 0) >= max;
  const release = (caller: string) => {
    const left = (open.get(caller) ?? 0) - 1;
    if (left > 0) open.set(caller, left);
    else open.delete(caller);
  };
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const caller = (args.contextValue as Partial<Context>).viewer?.id;
      if (!caller) return;
      if (full(caller)) {
        setResultAndStopExecution({ errors: [tooManySubscriptions(max)] });
        return;
      }
      let end = () => {};
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) return; // refused (FORBIDDEN, ...): no stream, no slot
          // Checked again: other subscriptions of the caller may have opened while this one started.
          if (full(caller)) {
            (result as AsyncIterableIterator<unknown>).return?.()?.catch(() => {});
            setResult({ errors: [tooManySubscriptions(max)] });
            return;
          }
          open.set(caller, (open.get(caller) ?? 0) + 1);
          let held = true;
          end = () => {
            if (!held) return;
            held = false;
            release(caller);
          };
          return { onEnd: () => end() };
        },
        onSubscribeError: () => end(),
      };
    },
  };
}
