/**
 * Pseudo-anomalies made in a long-lived worker. One procedural defect is 30–300 ms of synchronous
 * work and a 16-shot enrollment makes 128: on a service's main thread that would hold every
 * station's scoring. Starting a worker also stalls the starting thread (its module graph loads),
 * so a service starts one with itself and keeps it. The worker runs the same code on the same
 * inputs: the bytes are those of {@linkcode synthesizePseudoAnomalies}.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import type { Rgb8Image } from "../../image/mod.ts";
import type { PseudoAnomaly } from "./pseudo_anomaly.ts";
import { iteratePseudoAnomalies, type SynthesizeOptions } from "./synthesizer.ts";

/**
 * What the worker is sent: a request's normals one message each (a message of megabytes of pixels
 * stalls the sending thread while it is copied), then its options, which start the work.
 */
export type SynthesisRequest =
  | { id: number; normal: Rgb8Image }
  | {
    id: number;
    /** The procedural synthesizer only: a custom one cannot cross to the worker. */
    opts: Omit<SynthesizeOptions, "synthesizer">;
  };

/** What the worker answers. */
export type SynthesisReply =
  | { id: number; ok: true; anomalies: PseudoAnomaly[] }
  | { id: number; ok: false; message: string };

/** A worker making pseudo-anomalies, one request after another; {@linkcode SynthesisWorker.terminate} ends it. */
export class SynthesisWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(a: PseudoAnomaly[]): void; reject(e: Error): void }>();
  #next = 0;

  /** Starts the worker (a stall of the calling thread while its modules load: do it at start-up). */
  constructor() {
    this.#worker = new Worker(new URL("./_synth_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<SynthesisReply>) => {
      const reply = event.data;
      const waiting = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.ok) waiting?.resolve(reply.anomalies);
      else waiting?.reject(new ConfigError(`Pseudo-anomaly synthesis failed: ${reply.message}`));
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#failAll(`the synthesis worker failed: ${event.message}`);
    };
  }

  /**
   * {@linkcode synthesizePseudoAnomalies} with the procedural synthesizer, in the worker.
   *
   * @param normals the defect-free images (copied)
   * @param opts count, seed and crop
   * @param signal rejects at once when it fires (the worker's result is then dropped)
   * @returns the pseudo-anomalies, in order
   * @throws {ConfigError} for invalid options, at once
   */
  synthesize(
    normals: Rgb8Image[],
    opts: Omit<SynthesizeOptions, "synthesizer">,
    signal?: AbortSignal,
  ): Promise<PseudoAnomaly[]> {
    iteratePseudoAnomalies(normals, opts); // checks the options here, where the caller catches them
    const id = this.#next++;
    const answer = new Promise<PseudoAnomaly[]>((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        resolve: (a) => (done(), resolve(a)),
        reject: (e) => (done(), reject(e)),
      });
    });
    // Both awaited together: a cancellation while the normals are still being sent rejects at once.
    return Promise.all([answer, this.#send(id, normals, opts)]).then(([anomalies]) => anomalies);
  }

  /** The normals one at a time, each copy moved (not cloned), with an event-loop turn between; then the options. */
  async #send(id: number, normals: Rgb8Image[], opts: Omit<SynthesizeOptions, "synthesizer">): Promise<void> {
    for (const n of normals) {
      const normal = { ...n, data: n.data.slice() };
      this.#worker.postMessage({ id, normal } satisfies SynthesisRequest, [
        normal.data.buffer as ArrayBuffer,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.#worker.postMessage({ id, opts } satisfies SynthesisRequest);
  }

  /** Ends the worker; requests still waiting are refused. */
  terminate(): void {
    this.#worker.terminate();
    this.#failAll("the synthesis worker was stopped");
  }

  #failAll(why: string): void {
    for (const waiting of this.#pending.values()) {
      waiting.reject(new ConfigError(`Pseudo-anomaly synthesis failed: ${why}`));
    }
    this.#pending.clear();
  }
}
