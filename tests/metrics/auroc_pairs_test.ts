/**
 * AUROC against an independent implementation: the O(n²) definition, counting over every
 * (anomalous, normal) pair a win as 1 and a tie as ½, on random data with many ties.
 */
import assert from "node:assert/strict";
import { imageAuroc, pixelAuroc } from "../../src/metrics/auroc.ts";
import { tiedScores } from "../eval/_random.ts";

function pairCountAuroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0, pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!labels[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j]) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

Deno.test("imageAuroc() equals the pair-counting definition on random scores with ties", () => {
  for (const [seed, n, levels] of [[1, 50, 3], [2, 200, 7], [3, 400, 40], [4, 31, 1000]]) {
    const { scores, labels } = tiedScores(seed, n, { levels });
    const expected = pairCountAuroc(scores, labels);
    const actual = imageAuroc(scores, labels);
    assert.ok(Math.abs(actual - expected) <= 1e-9, `seed ${seed}: ${actual} vs ${expected}`);
  }
});

Deno.test("pixelAuroc() equals the pair-counting definition on random float32 maps with ties", () => {
  for (const [seed, n, levels] of [[5, 600, 5], [6, 1500, 60]]) {
    const { scores, labels } = tiedScores(seed, n, { levels, rate: 0.1 });
    const f32 = Float32Array.from(scores);
    const expected = pairCountAuroc(f32, labels);
    assert.ok(Math.abs(pixelAuroc(f32, labels) - expected) <= 1e-9, `seed ${seed}`);
  }
});
