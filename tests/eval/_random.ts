/**
 * Seeded random data with many ties for the metric tests.
 *
 * @module
 */
import { Random } from "../../src/random.ts";

/** `n` scores drawn from `levels` distinct values (so ties are common), and labels with `rate` positives. */
export function tiedScores(
  seed: number,
  n: number,
  opts: { levels: number; rate?: number },
): { scores: Float64Array; labels: Uint8Array } {
  const random = new Random(seed);
  const scores = new Float64Array(n), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = random.next() < (opts.rate ?? 0.3) ? 1 : 0;
    // Anomalies score a little higher on average, so the metrics are away from their trivial values.
    scores[i] = (random.int(0, opts.levels - 1) + (labels[i] ? random.int(0, 2) : 0)) / opts.levels;
  }
  return { scores, labels };
}
