/**
 * The sampling bound on constructed score sets with known answers: exactly normal goods (log
 * scores at the normal's quantiles), defects placed by hand.
 */
import assert from "node:assert/strict";
import { categoryBounds, samplingBound } from "../../src/eval/calibration_bound.ts";
import { normalQuantile } from "../../src/adp/mod.ts";

/** Standard normal upper tail, by Simpson's rule on the density (ample for these tolerances). */
function upperTail(z: number): number {
  const steps = 2000, hi = 12, h = (hi - z) / steps;
  let s = 0;
  for (let i = 0; i <= steps; i++) {
    const x = z + i * h, w = i === 0 || i === steps ? 1 : i % 2 ? 4 : 2;
    s += w * Math.exp(-x * x / 2);
  }
  return (s * h) / 3 / Math.sqrt(2 * Math.PI);
}

/** Goods whose log scores sit at n quantiles of N(log level, spread²); defects at the given log scores. */
function run(k: number, defectLogs: number[], n = 4000, level = -1, spread = 0.2) {
  const goods = Array.from({ length: n }, (_, i) => Math.exp(level + spread * normalQuantile((i + 0.5) / n)));
  return {
    k,
    scores: [...goods, ...defectLogs.map(Math.exp)],
    labels: [...goods.map(() => 0), ...defectLogs.map(() => 1)],
  };
}

Deno.test("samplingBound() errs on the level by σ/√K: false rejects at offset z are P(Z ≥ z / √(1 + 1/K))", () => {
  for (const k of [1, 4, 16]) {
    for (const z of [0.5, 1.5, 2.5]) {
      const [at] = samplingBound([run(k, [5, 6, 7])], { offsets: [z], maxFalseRejectRate: 0.5 }).perK;
      // 64 quadrature nodes and 4000 goods: the tail is right to a few parts in a thousand.
      const expected = upperTail(z / Math.sqrt(1 + 1 / k));
      assert.ok(
        Math.abs(at.falseRejectRate - expected) < 0.003,
        `K ${k}, z ${z}: ${at.falseRejectRate} vs ${expected}`,
      );
    }
  }
});

Deno.test("samplingBound() without sampling error is the best offset within the false-reject limit", () => {
  // Half the defects at the goods' 90% point, half far above: at offsets z ≤ 1.28 all are caught
  // (balanced error FRR/2), above it half pass (¼ + FRR/2). Within 5% false rejects (z ≥ 1.645)
  // the best is the largest z: gap ≈ ¼ − the oracle's P(Z ≥ 1.28)/2 ≈ 0.25 − 0.05 = 0.20.
  const d = -1 + 0.2 * normalQuantile(0.9);
  const bound = samplingBound([run(8, [d, d, d, 5, 5, 5])], { sampling: false });
  assert.ok(Math.abs(bound.gap - 0.2) < 0.002, `gap ${bound.gap}`);
  assert.ok(bound.perK[0].z > 3); // beyond the largest good: no false rejects
  // With the limit at 15% the offset drops below the defects' level and the gap closes.
  const loose = samplingBound([run(8, [d, d, d, 5, 5, 5])], { sampling: false, maxFalseRejectRate: 0.15 });
  assert.ok(loose.gap < 0.002 && loose.falseRejectRate <= 0.15);
});

Deno.test("samplingBound() allocates the false-reject budget across K where it buys the most", () => {
  // K = 1 runs have defects close above the goods, K = 16 runs far above. A uniform offset pays
  // the K = 1 runs' misses; the allocation spends the budget on K = 1.
  const near = -1 + 0.2 * 1.2;
  const runs = [run(1, [near, near, 5]), run(16, [5, 6, 7])];
  const bound = samplingBound(runs);
  assert.ok(bound.falseRejectRate <= 0.05 + 0.0005);
  const [k1, k16] = bound.perK;
  assert.ok(k1.falseRejectRate > k16.falseRejectRate);
  for (const z of [2.1, 2.3, 2.6, 3]) { // uniform offsets within the limit
    const uniform = samplingBound(runs, { offsets: [z] });
    assert.ok(bound.gap <= uniform.gap + 1e-12, `z ${z}`);
  }
  // An offset per run relaxes one per K: never worse, one entry per run.
  const perRun = samplingBound([...runs, run(1, [5, 6, 7])], { offsetsPer: "run" });
  assert.equal(perRun.perK.length, 3);
  assert.ok(perRun.gap <= samplingBound([...runs, run(1, [5, 6, 7])]).gap + 1e-12);
  assert.throws(() => samplingBound([run(1, [5])], { offsets: [0] }), RangeError);
});

Deno.test("categoryBounds() finds the separation that brings the bound to the target", () => {
  // Defects at the goods' own quantiles (no ranking at all) need raising; defects far above need none.
  const overlapping = [1, 4, 16].map((k) =>
    run(k, [0.25, 0.5, 0.75].map((p) => -1 + 0.2 * normalQuantile(p)), 400)
  );
  const separated = [1, 4, 16].map((k) => run(k, [5, 6, 7], 400));
  const [a, b] = categoryBounds(new Map([["overlap", overlapping], ["apart", separated]]));
  assert.deepEqual([a.category, b.category], ["apart", "overlap"]);
  assert.equal(a.separationNeeded?.delta, 0);
  assert.ok(a.bound.gap <= 0.05);
  assert.ok(b.bound.gap > 0.05 && b.levelKnown <= b.bound.gap);
  const need = b.separationNeeded!;
  assert.ok(need.delta > 0 && need.imageAuroc > 0.9, JSON.stringify(need));
  // A quarter less separation does not reach it.
  const short = overlapping.map((r) => ({
    ...r,
    scores: r.scores.map((s, i) => (r.labels[i] ? Math.exp(Math.log(s) + (need.delta - 0.25) * 0.2) : s)),
  }));
  assert.ok(samplingBound(short).gap > 0.05);
});

Deno.test("samplingBound() on the linear scale, and with resampled errors, meets the same known answers", () => {
  // Goods normal on the scores themselves: the level an offset gives the convolved tail there too.
  const n = 4000, goods = Array.from({ length: n }, (_, i) => 5 + normalQuantile((i + 0.5) / n));
  const linear = { k: 4, scores: [...goods, 20, 21], labels: [...goods.map(() => 0), 1, 1] };
  const [at] = samplingBound([linear], { scale: "linear", offsets: [1.5], maxFalseRejectRate: 0.5 }).perK;
  assert.ok(Math.abs(at.falseRejectRate - upperTail(1.5 / Math.sqrt(1.25))) < 0.003, `${at.falseRejectRate}`);
  // Drawing K = all the goods, the resampled mean is the level itself: no sampling error left.
  const all = run(40, [-1 + 0.2 * normalQuantile(0.9), 5], 40);
  const resampled = samplingBound([all], { errors: "resampled", nodes: 16 });
  assert.ok(Math.abs(resampled.gap - samplingBound([all], { sampling: false }).gap) < 1e-12);
  // At K = 1 the resampled error is one good's own deviation: the goods' spread, as the normal model says.
  const one = run(1, [5, 6], 400);
  const [r1] =
    samplingBound([one], { errors: "resampled", nodes: 4000, offsets: [1.5], maxFalseRejectRate: 0.5 }).perK;
  assert.ok(Math.abs(r1.falseRejectRate - upperTail(1.5 / Math.SQRT2)) < 0.01, `${r1.falseRejectRate}`);
});
