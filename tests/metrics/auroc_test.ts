/**
 * AUROC against hand-worked cases: each expected value is the Mann–Whitney count worked out by hand
 * (wins plus half the ties, over positives × negatives), so rank averaging over ties is checked
 * exactly, to 1e-9.
 */
import assert from "node:assert/strict";
import { imageAuroc, pixelAuroc } from "../../src/metrics/auroc.ts";
import { ConfigError, ShapeError } from "../../src/errors.ts";

const TOL = 1e-9;

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: got ${actual}, expected ${expected}`);
}

Deno.test("imageAuroc() matches the textbook four-score example without ties", () => {
  // Positives 0.35, 0.8 against negatives 0.1, 0.4: 0.35 beats 0.1 only, 0.8 beats both → 3/4.
  near(imageAuroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75, "no ties");
});

Deno.test("imageAuroc() counts a tie across the classes as one half", () => {
  // Positives {0.5, 0.9}, negatives {0.1, 0.5, 0.5}: 0.5 wins 1 and ties 2 (= 1), 0.9 wins 3 → 5/6.
  // By ranks: 0.1→1, the three 0.5s share rank 3, 0.9→5; U = (3 + 5) − 2·3/2 = 5.
  near(imageAuroc([0.1, 0.5, 0.5, 0.9, 0.5], [0, 1, 0, 1, 0]), 5 / 6, "ties");
  near(imageAuroc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5, "all tied");
  near(imageAuroc([3, 2, 1], [false, true, true]), 0, "inverted");
  near(imageAuroc([-2, -1, -1, 4], [0, 1, 0, 1]), 0.875, "negative scores with a tie");
});

Deno.test("pixelAuroc() takes −0 and +0 as one value and matches the hand count", () => {
  // Positives {−0, 0.5}, negatives {0, 0.5, 1}: −0 ties 0 (½), 0.5 beats 0 and ties 0.5 (1½) → 2/6.
  near(pixelAuroc(Float32Array.of(-0, 0, 0.5, 0.5, 1), Uint8Array.of(1, 0, 0, 1, 0)), 1 / 3, "signed zeros");
});

Deno.test("pixelAuroc() is exact on a million pixels with a block of ties", () => {
  // Values 0…9, 10⁵ of each. Positives: every v ≥ 5 and the even-indexed 4s; negatives: v ≤ 3 and the
  // odd-indexed 4s. Wins: 5·10⁵·4.5·10⁵ + 5·10⁴·4·10⁵, ties: 5·10⁴·5·10⁴ (½ each) over
  // 5.5·10⁵ × 4.5·10⁵ pairs = 2.4625·10¹¹ / 2.475·10¹¹ = 197/198.
  const n = 1_000_000;
  const scores = new Float32Array(n), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = i % 10;
    scores[i] = v;
    labels[i] = v >= 5 || (v === 4 && Math.floor(i / 10) % 2 === 0) ? 1 : 0;
  }
  near(pixelAuroc(scores, labels), 197 / 198, "million pixels");
});

Deno.test("pixelAuroc() agrees with imageAuroc() on random scores with many ties", () => {
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let trial = 0; trial < 20; trial++) {
    const n = 50 + trial * 37;
    const scores = new Float32Array(n), labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      scores[i] = Math.round((next() - 0.5) * 16) / 4;
      labels[i] = next() < 0.3 ? 1 : 0;
    }
    labels[0] = 1;
    labels[1] = 0;
    let wins = 0, p = 0;
    for (let i = 0; i < n; i++) {
      if (!labels[i]) continue;
      p++;
      for (let j = 0; j < n; j++) {
        if (!labels[j]) wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    const expected = wins / (p * (n - p));
    near(pixelAuroc(scores, labels), expected, `pixel trial ${trial}`);
    near(imageAuroc(Array.from(scores), labels), expected, `image trial ${trial}`);
  }
});

Deno.test("imageAuroc() and pixelAuroc() refuse mismatched lengths, one class, NaN and bad labels", () => {
  assert.throws(() => imageAuroc([1, 2], [0]), ShapeError);
  assert.throws(() => pixelAuroc(Float32Array.of(1, 2), Uint8Array.of(1)), ShapeError);
  assert.throws(
    () => imageAuroc([1, 2], [1, 1]),
    (e) => e instanceof ConfigError && /both classes/.test(e.message),
  );
  assert.throws(() => imageAuroc([1, NaN], [0, 1]), (e) => e instanceof ConfigError && /NaN/.test(e.message));
  assert.throws(() => imageAuroc([1, 2], [0, 2]), ConfigError);
  assert.throws(() => pixelAuroc(Float32Array.of(1, 2), Uint8Array.of(0, 255)), ConfigError);
});
