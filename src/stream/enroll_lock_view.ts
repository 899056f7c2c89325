/**
 * Which stations enroll anywhere in the queue group, as the JetStream lock bucket says: a frame
 * of a station without a profile that another instance is enrolling is answered `enrolling`, not
 * `no-profile`, by whichever instance the queue group hands it to.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";

/** How long an enrollment lock lives in its bucket (a job longer than that is not expected). */
export const ENROLL_LOCK_TTL_MS = 3600 * 1000;

/** A live view of the enrollment locks (keys are station ids). */
export class EnrollLockView {
  /** When each held lock was taken. */
  readonly #taken = new Map<string, number>();
  readonly #ttlMs: number;
  #stop: (() => void) | undefined;

  /**
   * @param ttlMs the bucket's TTL: a lock older than it has expired without a delete marker
   */
  constructor(ttlMs: number = ENROLL_LOCK_TTL_MS) {
    this.#ttlMs = ttlMs;
  }

  /**
   * Takes the locks held now, then follows every change in the background until
   * {@linkcode stop}; never throws (a failure is logged and leaves the view as it was).
   */
  async follow(locks: KV, log: (line: string) => void): Promise<void> {
    const warn = (error: unknown) => log(`warning: enrollment lock watch ended: ${(error as Error).message}`);
    try {
      for await (const key of await locks.keys()) {
        const e = await locks.get(key);
        if (e?.operation === "PUT") this.#taken.set(key, e.created.getTime());
      }
      const iter = await locks.watch();
      this.#stop = () => iter.stop();
      (async () => {
        for await (const e of iter) {
          if (e.operation === "PUT") this.#taken.set(e.key, e.created.getTime());
          else this.#taken.delete(e.key);
        }
      })().catch(warn);
    } catch (error) {
      warn(error);
    }
  }

  /** Whether some instance holds the station's enrollment lock. */
  has(station: string): boolean {
    const at = this.#taken.get(station);
    return at !== undefined && Date.now() - at < this.#ttlMs;
  }

  /** Stops following the bucket. */
  stop(): void {
    this.#stop?.();
  }
}
