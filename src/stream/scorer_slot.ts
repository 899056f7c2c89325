/**
 * A station's current scorer, swappable while batches are running: a batch holds the scorer it
 * started with, and a replaced scorer is disposed only when the last batch using it has finished.
 *
 * @module
 */
import type { Scorer } from "../adp/mod.ts";

/** One station's scorer, with hot swap. */
export class ScorerSlot {
  #current: Scorer | undefined;
  readonly #users = new Map<Scorer, number>();
  readonly #retired = new Set<Scorer>();
  readonly #onError: (error: unknown) => void;

  /**
   * An empty slot.
   *
   * @param onError where a retired scorer's failure to dispose is reported */
  constructor(onError: (error: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  /** The scorer in force, if any (no hold taken). */
  get current(): Scorer | undefined {
    return this.#current;
  }

  /** Whether a batch holds a scorer of this slot now (in force or replaced). */
  get held(): boolean {
    return this.#users.size > 0;
  }

  /** Takes a hold on the scorer in force; pair with {@linkcode release}. */
  acquire(): Scorer | undefined {
    const s = this.#current;
    if (s) this.#users.set(s, (this.#users.get(s) ?? 0) + 1);
    return s;
  }

  /** Gives back a hold; disposes a replaced scorer once nothing holds it. */
  release(scorer: Scorer): void {
    const n = (this.#users.get(scorer) ?? 1) - 1;
    if (n > 0) {
      this.#users.set(scorer, n);
      return;
    }
    this.#users.delete(scorer);
    if (this.#retired.delete(scorer)) this.#dispose(scorer);
  }

  /** Puts `next` in force (undefined: none); the previous one is disposed when free. */
  swap(next: Scorer | undefined): void {
    const previous = this.#current;
    this.#current = next;
    if (!previous || previous === next) return;
    if (this.#users.has(previous)) this.#retired.add(previous);
    else this.#dispose(previous);
  }

  #dispose(scorer: Scorer): void {
    scorer.dispose().catch(this.#onError);
  }
}
