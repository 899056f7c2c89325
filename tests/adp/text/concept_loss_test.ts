/**
 * The concept objective's hand-derived gradient against central finite differences in float64.
 * Tolerance 1e-6 relative: float64 differences with h = 1e-6 have truncation error O(h²) ≈ 1e-12
 * and rounding error ≈ 1e-16/h = 1e-10, far below it, so a wrong term shows as a large error.
 */
import assert from "node:assert/strict";
import {
  conceptLoss,
  type ConceptLossInput,
  normalProbability,
  promptSetEmbedding,
} from "../../../src/adp/text/concept_loss.ts";
import { normalizeRows } from "../../../src/vector.ts";
import { Random } from "../../../src/random.ts";

const E = 6;

function randomMatrix(random: Random, rows: number, scale = 1): Float64Array {
  return Float64Array.from({ length: rows * E }, () => random.normal() * scale);
}

function caseInput(seed: number): ConceptLossInput {
  const random = new Random(seed);
  const base = randomMatrix(random, 1);
  // Prompts near one direction and images near it too keep probabilities off saturation.
  const near = (rows: number, spread: number) =>
    Float64Array.from({ length: rows * E }, (_, i) => base[i % E] + spread * random.normal());
  return {
    embedDim: E,
    logitScale: 4,
    normals: normalizeRows(near(3, 0.8), E).unit,
    anomalies: normalizeRows(near(4, 0.8), E).unit,
    normalText: near(5, 0.5),
    anomalousText: near(4, 0.5),
    plainText: near(3, 0.5),
  };
}

const WEIGHTS = { alpha: 1, lambda: 0.7, gamma: 0.2 };

for (const seed of [1, 2, 3]) {
  Deno.test(`conceptLoss() gradient matches central finite differences (case ${seed})`, () => {
    const input = caseInput(seed);
    const result = conceptLoss(input, WEIGHTS);
    assert.ok(result.anomalyProbability.some((p) => p > WEIGHTS.gamma), "the hinge is active somewhere");
    const h = 1e-6;
    for (const key of ["normalText", "anomalousText", "plainText"] as const) {
      const grad = {
        normalText: result.gradNormalText,
        anomalousText: result.gradAnomalousText,
        plainText: result.gradPlainText,
      }[key];
      const base = Float64Array.from(input[key]);
      for (let i = 0; i < base.length; i++) {
        const at = (delta: number) => {
          const x = Float64Array.from(base);
          x[i] += delta;
          return conceptLoss({ ...input, [key]: x }, WEIGHTS).loss;
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        assert.ok(
          Math.abs(fd - grad[i]) <= 1e-6 * Math.max(1, Math.abs(fd)),
          `${key}[${i}]: analytic ${grad[i]} vs ${fd}`,
        );
      }
    }
  });
}

Deno.test("conceptLoss() without anomalies and λ = 0 is −α·mean P_n of the normals", () => {
  const input = { ...caseInput(4), anomalies: undefined };
  const result = conceptLoss(input, { alpha: 2, lambda: 0, gamma: 0.3 });
  const g = (t: ArrayLike<number>) => promptSetEmbedding(t, E);
  const p = normalProbability(input.normals, g(input.normalText), g(input.anomalousText), input.logitScale);
  const expected = -2 * (p.reduce((a, b) => a + b, 0) / p.length);
  assert.ok(Math.abs(result.loss - expected) < 1e-12, `${result.loss} vs ${expected}`);
  assert.ok(result.gradPlainText.every((v) => v === 0));
});

Deno.test("normalProbability() is one half when both prompt sets coincide", () => {
  const g = normalizeRows([1, 2, 3, 4, 5, 6], E).unit;
  const p = normalProbability(normalizeRows([6, 5, 4, 3, 2, 1], E).unit, g, g, 100);
  assert.equal(p[0], 0.5);
});
