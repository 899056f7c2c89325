/**
 * Batch synthesizers from other synthesizers: a synchronous one as a batch one (giving the event
 * loop a turn between items, since one procedural defect is up to 300 ms of work), and a mix that
 * alternates between two.
 *
 * @module
 */
import type { BatchSynthesizer, PseudoAnomaly, SynthesisItem, Synthesizer } from "./pseudo_anomaly.ts";

/**
 * A synchronous synthesizer as a {@linkcode BatchSynthesizer}: the same bytes per item, with a
 * macrotask turn after each so that a caller on a service's main thread keeps it responsive.
 *
 * @param synthesizer the synchronous synthesizer
 * @returns a batch synthesizer of the same name, batches of 1
 *
 * @example The procedural synthesizer, a batch at a time
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * import { createProceduralSynthesizer } from "./procedural.ts";
 * const normal = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(120) };
 * const batch = batchOf(createProceduralSynthesizer());
 * const [a] = await batch.synthesizeBatch([{ normal, random: new Random(1), index: 0 }]);
 * strictEqual(a.mask.length, 64 * 64);
 * ```
 */
export function batchOf(synthesizer: Synthesizer): BatchSynthesizer {
  return {
    name: synthesizer.name,
    batchSize: 1,
    async synthesizeBatch(items, signal) {
      const out: PseudoAnomaly[] = [];
      for (const item of items) {
        signal?.throwIfAborted();
        out.push(synthesizer.synthesize(item.normal, item.random));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return out;
    },
  };
}

/**
 * Alternates two synthesizers by the item's index: even indices from `first`, odd from `second`, so
 * a run of any length is half one and half the other, and item i is what `first` or `second` alone
 * would make of it.
 *
 * @param first makes the even-indexed items (and sets the batch size)
 * @param second makes the odd-indexed ones
 * @returns a batch synthesizer named `mix`
 */
export function mixSynthesizers(first: BatchSynthesizer, second: BatchSynthesizer): BatchSynthesizer {
  return {
    name: "mix",
    batchSize: first.batchSize * 2,
    async synthesizeBatch(items: readonly SynthesisItem[], signal?: AbortSignal) {
      const even = items.filter((it) => it.index % 2 === 0);
      const odd = items.filter((it) => it.index % 2 !== 0);
      const fromFirst = await first.synthesizeBatch(even, signal);
      const fromSecond = await second.synthesizeBatch(odd, signal);
      let e = 0, o = 0;
      return items.map((it) => it.index % 2 === 0 ? fromFirst[e++] : fromSecond[o++]);
    },
  };
}
