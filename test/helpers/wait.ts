import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `check` every 20 ms until it returns a truthy value, and returns that value; throws after
 * `timeoutMs`, naming `what` it waited for.
 */
export async function until<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 30_000,
): Promise<Exclude<Awaited<T>, false | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<Awaited<T>, false | null | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
