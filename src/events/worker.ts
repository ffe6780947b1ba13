import type { Logger } from "../observability/logger.js";

/** A background loop over the outbox: runs when woken, and every `intervalMs` in case it was not. */
export interface Worker {
  /** Run again soon (a commit wrote outbox rows, or another worker made some due). */
  wake(): void;
  /** Stops the timer and waits for the round in progress. */
  close(): Promise<void>;
}

/**
 * Runs `round` one at a time: a wake-up during a round runs one more round after it; a round that
 * returns true (a full batch: there may be more) is followed by the next at once. A failing round is
 * logged (once until a round succeeds again) and retried at the next wake-up or tick.
 */
export function startWorker(name: string, intervalMs: number, round: () => Promise<boolean>, logger: Logger): Worker {
  let closed = false;
  let again = false;
  let running: Promise<void> | null = null;
  let failing = false;

  async function loop(): Promise<void> {
    while (again && !closed) {
      again = false;
      try {
        while ((await round()) && !closed) {}
        if (failing) logger.info({ worker: name }, "outbox worker recovered");
        failing = false;
      } catch (error) {
        if (!failing) logger.warn({ err: error, worker: name }, "outbox worker failed; retrying at its next poll");
        failing = true;
      }
    }
  }

  function wake(): void {
    if (closed) return;
    again = true;
    running ??= loop().finally(() => {
      running = null;
    });
  }

  const timer = setInterval(wake, intervalMs);
  timer.unref();
  wake();
  return {
    wake,
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
