/**
 * Scoring first on a shared model. onnxruntime-node runs a session synchronously on the calling
 * thread, so a service's enrollment and its live scoring take turns on the one main thread: a frame
 * that arrives during an enrollment run waits for that run, and for every enrollment run after it
 * unless the enrollment lets it go first. Work started inside {@linkcode RunTurns.background} does:
 * before each of its model runs (`OnnxSession.run` asks {@linkcode awaitRunTurn}) it gives
 * the event loop a turn, so frames already on the socket are taken in, then waits while the
 * urgent work (the service's scoring pipeline) is busy, at most `maxWaitMs` so that it still
 * advances under sustained load. A frame then waits for at most one background run.
 *
 * The lane follows the background work through its awaits (an AsyncLocalStorage), so the model code
 * that enrollment shares with scoring needs no priority argument.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";

const lane = new AsyncLocalStorage<RunTurns>();

/** Options of {@linkcode RunTurns}. */
export interface RunTurnsOptions {
  /** Whether urgent work is waiting or running (frames received and not yet answered). */
  busy: () => boolean;
  /** Longest wait of one background run while urgent work stays busy. @default 500 */
  maxWaitMs?: number;
}

/** The turns of urgent and background model runs on one thread. */
export class RunTurns {
  readonly #busy: () => boolean;
  readonly #maxWaitMs: number;
  #waiters: (() => void)[] = [];
  /** Background runs that waited for urgent work, and the time they waited in all (ms). */
  readonly yielded = { runs: 0, waitedMs: 0 };

  constructor(opts: RunTurnsOptions) {
    this.#busy = opts.busy;
    this.#maxWaitMs = opts.maxWaitMs ?? 500;
  }

  /** Runs `work` in the background lane: each model run in it waits for urgent work first. */
  background<T>(work: () => Promise<T>): Promise<T> {
    return lane.run(this, work);
  }

  /** Urgent work may have finished: background runs waiting for it check again. */
  settle(): void {
    if (this.#busy() || !this.#waiters.length) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once urgent work is idle (after one event-loop turn), or after `maxWaitMs`. */
  async turn(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (!this.#busy()) return;
    const from = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      timer = setTimeout(resolve, this.#maxWaitMs);
    });
    clearTimeout(timer);
    this.yielded.runs++;
    this.yielded.waitedMs += performance.now() - from;
  }
}

/** Waits for the turn of the background lane the caller runs in; resolves at once outside one. */
export async function awaitRunTurn(): Promise<void> {
  await lane.getStore()?.turn();
}
