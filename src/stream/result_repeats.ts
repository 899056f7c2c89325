/**
 * A durable frame's result can reach a live subscriber twice. With `--jetstream` a frame is
 * acknowledged only after its result is published, so an instance killed between the two leaves the
 * frame to be delivered again, and the next instance answers it again. Stream `ADP_RESULTS` stores
 * the second answer not at all (same `Nats-Msg-Id`, inside its duplicate window), but nats-server
 * (2.9, measured in tests/reliability/result_repeats_test.ts) routes every published copy to the
 * core subscribers of `adp.results.<station>`: its de-duplication only decides what the stream
 * stores. Both answers carry the same `Nats-Msg-Id` (`<station>.frame-<frame stream sequence>`),
 * which no other frame's answer has, even when a camera reuses `Adp-Frame-Id`. A live subscriber
 * that must count each frame once drops repeats of that header with this filter.
 *
 * @module
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import { Header } from "./subjects.ts";

/** Remembers the last `capacity` result ids (`Nats-Msg-Id`) seen, to tell a repeat. */
export class ResultRepeats {
  readonly #capacity: number;
  readonly #seen = new Set<string>();
  /** Repeats dropped so far. */
  dropped = 0;

  /**
   * @param capacity ids remembered: a repeat comes after the frame stream's ack wait (15 s), so
   *   this many results of the last seconds are enough (4,096: 15 s of 270 frames a second).
   */
  constructor(capacity = 4096) {
    this.#capacity = capacity;
  }

  /**
   * Whether a result with these headers was seen already; a result without `Nats-Msg-Id` (no
   * JetStream: at most once) never is.
   *
   * @example
   * ```ts
   * import { headers } from "@nats-io/transport-node";
   * const repeats = new ResultRepeats();
   * const h = headers();
   * h.set("Nats-Msg-Id", "line-1.frame-7");
   * console.assert(!repeats.isRepeat(h) && repeats.isRepeat(h));
   * ```
   */
  isRepeat(headers: MsgHdrs | undefined): boolean {
    const id = headers?.get(Header.msgId);
    if (!id) return false;
    if (this.#seen.has(id)) {
      this.dropped++;
      return true;
    }
    this.#seen.add(id);
    if (this.#seen.size > this.#capacity) this.#seen.delete(this.#seen.values().next().value!);
    return false;
  }
}
