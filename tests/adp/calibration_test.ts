/**
 * The calibration math on constructed distances and score distributions whose answers are known.
 */
import assert from "node:assert/strict";
import {
  calibrateStation,
  CALIBRATION_DEFAULTS,
  growthExponent,
  measureShotEdgeExcess,
  memoryCurves,
  normalQuantile,
  patchThreshold,
  selfViewScores,
  subsetScore,
  tQuantile,
  unseenGoods,
} from "../../src/adp/calibration.ts";
import type { HeldOutDistances } from "../../src/adp/held_out.ts";
import { Random } from "../../src/random.ts";

/** Distances where shot i's patch c, through any view, lies `at(i, j, c)` from shot j's view grids. */
function constructed(
  k: number,
  cells: number,
  at: (i: number, j: number, w: number, c: number) => number,
  opts: { views?: number; self?: (i: number, c: number) => number } = {},
): HeldOutDistances {
  const u = opts.views ?? 1, w = opts.views ?? 1;
  const cross = new Float32Array(k * u * k * w * cells);
  for (let i = 0; i < k; i++) {
    for (let v = 0; v < u; v++) {
      for (let j = 0; j < k; j++) {
        for (let m = 0; m < w; m++) {
          for (let c = 0; c < cells; c++) cross[(((i * u + v) * k + j) * w + m) * cells + c] = at(i, j, m, c);
        }
      }
    }
  }
  const self = opts.self
    ? Float32Array.from(
      { length: k * u * cells },
      (_, x) => opts.self!(Math.floor(x / (u * cells)), x % cells),
    )
    : null;
  return { shots: k, testViews: u, memoryViews: w, cells, cross, self, imageScore: { kind: "max" } };
}

Deno.test("subsetScore() takes the nearest memory grid per patch, the self-reference, then the largest patch", () => {
  // Shot 0's two patches: 0.5 / 0.1 from shot 1, 0.2 / 0.4 from shot 2.
  const table = [[0, 0], [0.5, 0.1], [0.2, 0.4]];
  const d = constructed(3, 2, (i, j, _w, c) => (i === 0 ? table[j][c] : 1));
  assert.ok(Math.abs(subsetScore(d, 0, [1]) - 0.5) < 1e-6);
  assert.ok(Math.abs(subsetScore(d, 0, [2]) - 0.4) < 1e-6);
  assert.ok(Math.abs(subsetScore(d, 0, [1, 2]) - 0.2) < 1e-6);
  const withSelf = constructed(3, 2, (i, j, _w, c) => (i === 0 ? table[j][c] : 1), { self: () => 0.3 });
  assert.ok(Math.abs(subsetScore(withSelf, 0, [1]) - 0.3) < 1e-6);
});

Deno.test("selfViewScores() scores each view against the shot's other views, through that view alone", () => {
  // One shot, two views: view 0's patches lie 0.2 from view 1, view 1's lie 0.6 from view 0.
  const d = constructed(1, 3, (_i, _j, w) => (w === 0 ? 0.6 : 0.2), { views: 2 });
  // cross is indexed by the query's test view v too; constructed() ignores v, so patch it here.
  const cells = 3;
  for (let v = 0; v < 2; v++) {
    for (let m = 0; m < 2; m++) {
      for (let c = 0; c < cells; c++) {
        d.cross[((v * 1 + 0) * 2 + m) * cells + c] = v === m ? 0 : v === 0 ? 0.2 : 0.6;
      }
    }
  }
  const s = selfViewScores(d);
  assert.equal(s.length, 2);
  assert.ok(Math.abs(s[0] - 0.2) < 1e-6 && Math.abs(s[1] - 0.6) < 1e-6, `${s}`);
});

Deno.test("measureShotEdgeExcess() measures the edge ring's excess from the shots, each shot's offsets without it", () => {
  // 3×3 grids, one outer ring: shot i's edge cells lie 0.2, 0.3, 0.4 from every other shot, its
  // centre 0.1. The station's excess is the mean edge over the centre, 0.2; shot 0's own offsets
  // come from shots 1 and 2 alone, (0.3 + 0.4) / 2 − 0.1 = 0.25, shot 2's from 0 and 1, 0.15.
  const edge = [0.2, 0.3, 0.4], grid = { gridH: 3, gridW: 3 };
  const d = constructed(3, 9, (i, _j, _w, c) => (c === 4 ? 0.1 : edge[i]));
  const { excess, distances } = measureShotEdgeExcess(d, grid, 1);
  assert.equal(excess.length, 1);
  assert.ok(Math.abs(excess[0] - 0.2) < 1e-6, `${excess}`);
  const offsets = distances.edgeOffsets!;
  assert.ok(Math.abs(offsets[0] - 0.25) < 1e-6 && offsets[4] === 0);
  assert.ok(Math.abs(offsets[2 * 9] - 0.15) < 1e-6);
  // Held out against the others, shot 0's edge (0.2 − 0.25) falls below its centre; shot 2's stays above.
  assert.ok(Math.abs(subsetScore(distances, 0, [1, 2]) - 0.1) < 1e-6);
  assert.ok(Math.abs(subsetScore(distances, 2, [0, 1]) - 0.25) < 1e-6);
  assert.ok(Math.abs(subsetScore(d, 0, [1, 2]) - 0.2) < 1e-6, "the measured table itself is left as it was");
});

Deno.test("measureShotEdgeExcess() at K = 1 reads the views of the one shot, each against the others", () => {
  // One shot, two views: through view 0 (against view 1) the edge lies 0.2 away, through view 1
  // (against view 0) 0.6; the centre 0.1. Excess (0.2 + 0.6) / 2 − 0.1 = 0.3, for every view.
  const d = constructed(1, 9, (_i, _j, w, c) => (c === 4 ? 0.1 : w === 0 ? 0.6 : 0.2), { views: 2 });
  const { excess, distances } = measureShotEdgeExcess(d, { gridH: 3, gridW: 3 }, 1);
  assert.ok(Math.abs(excess[0] - 0.3) < 1e-6, `${excess}`);
  const scores = selfViewScores(distances);
  assert.ok(Math.abs(scores[0] - 0.1) < 1e-6 && Math.abs(scores[1] - 0.3) < 1e-6, `${scores}`);
});

Deno.test("growthExponent() recovers a power law of score against memory size; unseenGoods() carries it to K", () => {
  const b = -0.25, k = 9;
  const curves = [1, 2, 3].map((a) => Array.from({ length: k - 1 }, (_, m) => a * (m + 1) ** b));
  assert.ok(Math.abs(growthExponent(curves)! - b) < 1e-12);
  assert.equal(growthExponent([[0.3], [0.2]]), null, "K = 2: one memory size, no slope");
  assert.equal(growthExponent(curves.map((row) => row.map((_, m) => (m + 1) ** 0.5))), 0, "never grows");
  const d = constructed(k, 1, () => 1);
  const goods = unseenGoods(d, { curves });
  assert.equal(goods.measured, true);
  goods.scores.forEach((s, i) => assert.ok(Math.abs(s - (i + 1) * k ** b) < 1e-9));
  const two = unseenGoods(constructed(2, 1, () => 0.5), { curves: [[0.5], [0.5]] });
  assert.equal(two.measured, false);
  assert.ok(Math.abs(two.scores[0] - 0.5 * 2 ** CALIBRATION_DEFAULTS.priorExponent) < 1e-12);
});

Deno.test("unseenGoods() removes most of the leave-one-out bias on simulated parts", () => {
  // Every part's patch lies an Exp(1)-distributed distance from each other part, independently:
  // against a memory of m parts a patch scores the minimum of m draws, a part the maximum over its
  // patches. The truth for unseen parts against K shots is simulated directly.
  const cells = 20, k = 6, rng = Random.forStream(7, "calibration-test");
  const exp = () => -Math.log(1 - rng.next());
  const partScore = (m: number) => {
    let worst = 0;
    for (let c = 0; c < cells; c++) {
      let best = Infinity;
      for (let j = 0; j < m; j++) best = Math.min(best, exp());
      worst = Math.max(worst, best);
    }
    return worst;
  };
  let truth = 0;
  for (let t = 0; t < 4000; t++) truth += partScore(k) / 4000;
  let loo = 0, predicted = 0;
  const trials = 60;
  for (let t = 0; t < trials; t++) {
    const table = Array.from({ length: k * k * cells }, exp);
    const d = constructed(k, cells, (i, j, _w, c) => table[(i * k + j) * cells + c]);
    const curves = memoryCurves(d, { subsets: 6, seed: t });
    loo += curves.reduce((a, row) => a + row[k - 2], 0) / k / trials;
    predicted += unseenGoods(d, { curves }).scores.reduce((a, b) => a + b, 0) / k / trials;
  }
  // Leave-one-out is biased high; the prediction is within 3% of the truth and far closer.
  assert.ok(loo > truth * 1.08, `loo ${loo} truth ${truth}`);
  assert.ok(Math.abs(predicted - truth) < 0.03 * truth, `predicted ${predicted} truth ${truth}`);
});

Deno.test("patchThreshold() puts the threshold at the target quantile of log-normal goods, given many", () => {
  const rng = Random.forStream(1, "calibration-test"), mu = Math.log(0.1), sigma = 0.3;
  const scores = Array.from({ length: 4000 }, () => Math.exp(mu + sigma * rng.normal()));
  for (const target of [0.01, 0.05]) {
    const t = patchThreshold({ scores, exponent: -0.2, measured: true }, [], {
      targetFalseRejectRate: target,
    });
    const expected = Math.exp(mu + normalQuantile(1 - target) * sigma);
    assert.ok(Math.abs(Math.log(t.threshold / expected)) < 0.03, `${t.threshold} vs ${expected}`);
    assert.equal(t.ceiling, Infinity);
  }
});

Deno.test("patchThreshold() honours the target false-reject rate on average over draws of 16 shots", () => {
  const rng = Random.forStream(2, "calibration-test"), mu = Math.log(0.2), sigma = 0.3;
  for (const [target, k] of [[0.01, 16], [0.05, 16], [0.05, 4]] as const) {
    let frr = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const scores = Array.from({ length: k }, () => Math.exp(mu + sigma * rng.normal()));
      const { threshold } = patchThreshold({ scores, exponent: -0.2, measured: true }, [], {
        targetFalseRejectRate: target,
        priorLogSpread: sigma,
      });
      // The true share of goods above it.
      frr += (1 - normalCdf((Math.log(threshold) - mu) / sigma)) / trials;
    }
    assert.ok(frr > 0.6 * target && frr < 1.5 * target, `K=${k} target ${target}: ${frr}`);
  }
});

Deno.test("patchThreshold() at K = 1 sits two thirds of the way (log) from the shot's level to the median pseudo-anomaly", () => {
  const t = patchThreshold({ scores: [0.05], exponent: null, measured: false }, [0.4, 0.2, 0.8]);
  const expected = Math.exp(Math.log(0.05) + (2 / 3) * (Math.log(0.4) - Math.log(0.05)));
  assert.ok(Math.abs(t.threshold - expected) < 1e-12);
  assert.match(t.rule, /one shot/);
  // Pseudo-anomalies barely above the views (a grainy texture): the views' 95% quantile with the
  // prior spread, exp(z(0.95)·σ·√2) above their level, is the floor.
  const grainy = patchThreshold({ scores: [0.2], exponent: null, measured: false }, [0.21, 0.22, 0.25]);
  const floor = 0.2 * Math.exp(normalQuantile(0.95) * CALIBRATION_DEFAULTS.priorLogSpread * Math.SQRT2);
  assert.ok(Math.abs(grainy.threshold - floor) < 1e-12, `${grainy.threshold} vs ${floor}`);
  // Without pseudo-anomalies: the prior spread.
  const bare = patchThreshold({ scores: [0.05], exponent: null, measured: false }, []);
  assert.ok(bare.threshold > 0.05 && Number.isFinite(bare.threshold));
});

Deno.test("patchThreshold() comes down to the equal-error point with the pseudo-anomalies, not below the 95% quantile", () => {
  // Goods' logs: mean log 0.1, spread (with the prior) known; pseudo-anomalies just above them.
  const goods = { scores: [0.1, 0.1, 0.1, 0.1], exponent: -0.2, measured: true };
  const near = [0.15, 0.2, 0.25, 0.3];
  const free = patchThreshold(goods, []);
  const fixed = patchThreshold(goods, near, { pseudoCeiling: 0.5, maxFalseRejectRate: 0.5 });
  const pm = near.reduce((a, s) => a + Math.log(s), 0) / near.length;
  assert.ok(Math.abs(fixed.ceiling - Math.exp(Math.log(0.1) + 0.5 * (pm - Math.log(0.1)))) < 1e-9);
  assert.ok(Math.abs(fixed.threshold - fixed.ceiling) < 1e-12 && fixed.threshold < free.threshold);
  // The default floor: never below the estimated 95% point of the goods (log-normal, shrunk spread).
  const floored = patchThreshold(goods, near);
  const { priorWeight: w, priorLogSpread: s0 } = CALIBRATION_DEFAULTS;
  const spread = Math.sqrt((w * s0 ** 2) / (w + 3)); // the four goods agree: only the prior spreads them
  const at95 = 0.1 * Math.exp(normalQuantile(0.95) * spread);
  assert.ok(
    Math.abs(floored.threshold - Math.max(floored.ceiling, at95)) < 1e-9,
    `${floored.threshold} ${at95}`,
  );
  const predictive = patchThreshold(goods, near, { predictiveFloor: true });
  const q95 = patchThreshold(goods, [], { targetFalseRejectRate: 0.05 });
  assert.ok(Math.abs(predictive.threshold - Math.max(predictive.ceiling, q95.threshold)) < 1e-12);
  assert.match(floored.rule, /lowered/);
  // Pseudo-anomalies far above: the operating point stands.
  assert.equal(patchThreshold(goods, [5, 6, 7]).threshold, free.threshold);
});

Deno.test("calibrateStation() standardises so that the threshold is in fused units, text kept out when it is noise", () => {
  const k = 8, cells = 10, rng = Random.forStream(3, "calibration-test");
  const table = Array.from({ length: k * k * cells }, () => 0.1 + 0.05 * rng.next());
  const d = constructed(k, cells, (i, j, _w, c) => table[(i * k + j) * cells + c]);
  const pseudoAnomalies = Array.from(
    { length: 32 },
    () => ({ patch: 0.3 + 0.1 * rng.next(), text: rng.normal() }),
  );
  const out = calibrateStation({
    distances: d,
    normalText: Array.from({ length: k }, () => rng.normal()),
    pseudoAnomalies,
  });
  assert.equal(out.fusion.textWeight, 0);
  assert.equal(out.calibration.textAdmission!.admitted, false);
  assert.equal(out.calibration.targetFalseRejectRate, 0.01);
  const goods = unseenGoods(d);
  const patch = patchThreshold(goods, pseudoAnomalies.map((s) => s.patch));
  assert.ok(Math.abs(out.threshold - (patch.threshold - out.fusion.patchMean) / out.fusion.patchStd) < 1e-9);
  assert.ok(out.calibration.normalScores.every((s) => s < out.threshold));
  assert.ok(out.calibration.pseudoAnomalyScores.every((s) => s > out.threshold));
});

Deno.test("normalQuantile() and tQuantile() match tabulated values", () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232) < 1e-5);
  // t table: ν = 5, 10, 30 at 0.99.
  for (const [nu, value] of [[5, 3.365], [10, 2.764], [30, 2.457]]) {
    assert.ok(Math.abs(tQuantile(0.99, nu) - value) / value < 0.01, `ν=${nu}: ${tQuantile(0.99, nu)}`);
  }
});

function normalCdf(x: number): number {
  // Abramowitz–Stegun 7.1.26 through erf.
  const t = 1 / (1 + 0.3275911 * Math.abs(x) / Math.SQRT2);
  const y = 1 -
    (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}
