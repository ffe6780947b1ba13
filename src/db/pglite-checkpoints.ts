import type { PGlite } from "@electric-sql/pglite";

export interface CheckpointOptions {
  /** How often the WAL written since the last checkpoint is measured. */
  everyMs?: number;
  /** WAL since the last checkpoint (bytes) that makes the next look run a CHECKPOINT. */
  maxWalBytes?: number;
}

/**
 * PGlite runs PostgreSQL as a single-user backend: there is no checkpointer, so neither
 * `checkpoint_timeout` nor `max_wal_size` ever starts a checkpoint (a backend only asks for one when
 * it runs under a postmaster). Until the data directory is closed, every write since it was opened
 * stays in pg_wal, and a process killed with SIGKILL makes the next start replay all of it: about
 * 5 s for 800 MB of WAL here, more on a slower machine, and pg_wal grows the whole time.
 *
 * This measures, every `everyMs`, the WAL written since the last checkpoint's redo point and runs a
 * CHECKPOINT once it passes `maxWalBytes`, so crash recovery replays at most about that much plus
 * what one interval writes. A checkpoint only writes dirty pages out (at most shared_buffers); commits
 * are as durable as before (each one's WAL is written before it is acknowledged, checkpoint or not).
 * Both statements go through PGlite's queue: they never run inside a Prisma transaction.
 *
 * Returns the stop function: it waits for a look in progress, so the database can be closed after it.
 */
export function startCheckpoints(pglite: PGlite, options: CheckpointOptions = {}): () => Promise<void> {
  const everyMs = options.everyMs ?? 5_000;
  const maxWalBytes = options.maxWalBytes ?? 16 * 2 ** 20;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const look = async () => {
    const { rows } = await pglite.query<{ bytes: number }>(
      "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::float8 AS bytes FROM pg_control_checkpoint()",
    );
    if (!stopped && (rows[0]?.bytes ?? 0) >= maxWalBytes) await pglite.exec("CHECKPOINT");
  };
  const schedule = () => {
    timer = setTimeout(() => {
      // A failed look (the database closing under it) costs nothing but a longer replay: try again later.
      running = look().catch(() => {});
      void running.then(() => {
        if (!stopped) schedule();
      });
    }, everyMs);
    // The checkpoints never keep a process alive (the CLI, a test).
    timer.unref();
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
