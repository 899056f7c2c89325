/**
 * Cooperation with the event loop for long synchronous work on the service's main thread. A frame's
 * result waits for every task ahead of it, so work that is not urgent (an enrollment beside live
 * scoring) runs in slices and gives the loop a turn between them: timers, sockets and the scoring
 * pipeline's own tasks run before the next slice.
 *
 * @module
 */

/** Gives the event loop a turn when called after work; resolves at once when little time has passed. */
export type Pause = () => Promise<void>;

/**
 * A pause that yields a macrotask turn (`setTimeout(0)`, after pending I/O and timers) once `sliceMs`
 * of work has passed since the last turn, and is a cheap microtask otherwise: call it often.
 *
 * @param sliceMs longest run of work between two turns (the work between two calls can exceed it)
 * @returns the pause
 *
 * @example
 * ```ts
 * const pause = cooperativePause(5);
 * for (let i = 0; i < 3; i++) await pause();
 * ```
 */
export function cooperativePause(sliceMs = 8): Pause {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < sliceMs) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    since = performance.now();
  };
}

/**
 * The items of a lazy iterable, with a {@linkcode Pause} after each: the work of producing each item
 * is one slice.
 *
 * @param items a generator (or any iterable) doing its work as it is advanced
 * @param pause called after each item
 * @returns the items, in order
 */
export async function collectCooperatively<T>(items: Iterable<T>, pause: Pause): Promise<T[]> {
  const out: T[] = [];
  for (const item of items) {
    out.push(item);
    await pause();
  }
  return out;
}
