import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { applyFeedback, FEEDBACK_DEFAULTS, feedbackThreshold, partRows } from "../../src/adp/feedback.ts";
import { CALIBRATION_DEFAULTS, normalQuantile, patchThreshold } from "../../src/adp/calibration.ts";
import { type StationProfile, validateProfile } from "../../src/adp/profile.ts";

// Patch units = fused units (patchMean 0, patchStd 1), text out: every expected value below is a
// patch score, written down or computed with calibration.ts's own rule.
const GOODS = [0.2, 0.22, 0.25, 0.21];
const PSEUDO = [0.5, 0.6, 0.7, 0.55];
const EXPONENT = -0.3;
const SHOT_THRESHOLD =
  patchThreshold({ scores: GOODS, exponent: EXPONENT, measured: true }, PSEUDO).threshold;
const DIM = 2, GRID = 1, VIEWS = 2; // a part is 2 rows of 2 values

function profile(): StationProfile {
  const rows = GOODS.length * VIEWS * GRID * GRID;
  return {
    meta: {
      formatVersion: 3,
      version: 3,
      createdAt: "2026-12-02T00:00:00Z",
      station: "s1",
      model: { id: "m", hash: "h", embedDim: 2, width: 2 },
      patch: {
        extractor: { kind: "clip", blocks: [1] },
        dim: DIM,
        gridH: GRID,
        gridW: GRID,
        count: rows,
        views: ["identity", "flipH"],
        testViews: ["identity"],
        selfRadius: null,
        imageScore: { kind: "max" },
        edgeExcess: [],
        sigma: 0,
      },
      selfTuning: { weights: {}, aurocs: {} },
      fusion: { patchMean: 0, patchStd: 1, textMean: 0.5, textStd: 0.1, textWeight: 0 },
      threshold: SHOT_THRESHOLD,
      calibration: {
        method: "test",
        normalScores: [...GOODS],
        pseudoAnomalyScores: [...PSEUDO],
        memoryExponent: EXPONENT,
      },
      enrollment: {
        shots: GOODS.length,
        seed: 0,
        steps: 1,
        learningRate: 0.01,
        alpha: 1,
        lambda: 1,
        gamma: 0.5,
        promptsPerStep: 1,
        pseudoAnomalies: 4,
        imageSha256: [],
        durationMs: 1,
        losses: { normal: [], anomaly: [] },
      },
    },
    concepts: { normal: new Float32Array(2), anomaly: new Float32Array(2) },
    prototypes: { normal: Float32Array.of(1, 0), anomaly: Float32Array.of(0, 1) },
    memory: Float32Array.from({ length: rows * DIM }, (_, i) => i),
  };
}

const at = "2026-12-02T10:00:00Z";
const part = (fill: number) => new Float32Array(VIEWS * DIM).fill(fill);
const good = (p: StationProfile, id: string, patch: number, fill = 7) =>
  applyFeedback(p, "good", { frameId: id, patch, text: 0.5, features: part(fill) }, { at });
const defect = (p: StationProfile, id: string, patch: number) =>
  applyFeedback(p, "defect", { frameId: id, patch, text: 0.5 }, { at });
/** The goods' (1 − rate) point the safeguard holds, from log scores (spread shrunk as calibration.ts does). */
function goodsPoint(logs: number[], rate: number): number {
  const n = logs.length, m = logs.reduce((a, b) => a + b, 0) / n;
  const ss = logs.reduce((a, x) => a + (x - m) ** 2, 0);
  const { priorWeight: w, priorLogSpread: s } = CALIBRATION_DEFAULTS;
  return Math.exp(m + normalQuantile(1 - rate) * Math.sqrt((w * s ** 2 + ss) / (w + n - 1)));
}
const close = (a: number, b: number, what: string) => ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

Deno.test("feedback: without labels the threshold is the shots' calibration", () => {
  close(feedbackThreshold(profile().meta).threshold, SHOT_THRESHOLD, "threshold");
});

Deno.test("feedback: a good part joins the memory and the calibration as an unseen good", () => {
  const before = profile();
  const after = good(before, "f1", 0.15);
  strictEqual(after.meta.version, 4);
  deepStrictEqual(after.meta.revision, {
    kind: "feedback",
    at,
    fromVersion: 3,
    frameId: "f1",
    label: "good",
  });
  strictEqual(after.meta.patch.count, before.meta.patch.count + partRows(before.meta));
  deepStrictEqual([...after.memory.subarray(0, before.memory.length)], [...before.memory]);
  deepStrictEqual([...after.memory.subarray(before.memory.length)], [...part(7)]);
  deepStrictEqual(after.meta.calibration.feedback!.memoryFrames, ["f1"]);
  strictEqual(after.meta.calibration.feedback!.examples[0].parts, 4);
  // Every score carried from its memory (4 parts) to the one in force (5) along score ∝ parts^b.
  const carry = (5 / 4) ** EXPONENT;
  const expected = patchThreshold(
    { scores: [...GOODS, 0.15].map((s) => s * carry), exponent: null, measured: false },
    PSEUDO.map((s) => s * carry),
  ).threshold;
  close(after.meta.threshold, expected, "recalibrated threshold");
  ok(after.meta.threshold < SHOT_THRESHOLD);
  validateProfile(after, "test");
  strictEqual(before.meta.version, 3, "the input profile is left as it was");
});

Deno.test("feedback: the memory keeps at most maxMemoryFrames fed parts, the oldest leaving first", () => {
  let p = profile();
  const shots = p.memory.slice();
  for (let i = 0; i <= FEEDBACK_DEFAULTS.maxMemoryFrames; i++) p = good(p, `g${i}`, 0.2, i + 100);
  const rows = partRows(p.meta);
  strictEqual(p.meta.patch.count, (GOODS.length + FEEDBACK_DEFAULTS.maxMemoryFrames) * rows);
  deepStrictEqual([...p.memory.subarray(0, shots.length)], [...shots]);
  strictEqual(p.memory[shots.length], 101, "g0 left, g1 follows the shots");
  strictEqual(p.memory[p.memory.length - 1], 100 + FEEDBACK_DEFAULTS.maxMemoryFrames);
  strictEqual(p.meta.calibration.feedback!.memoryFrames[0], "g1");
  strictEqual(p.meta.calibration.feedback!.examples.length, FEEDBACK_DEFAULTS.maxMemoryFrames + 1);
  throws(
    () =>
      applyFeedback(p, "good", { frameId: "x", patch: 0.2, text: 0, features: part(1).subarray(1) }, { at }),
    RangeError,
  );
});

Deno.test("feedback: defects place the threshold once there are enough, never above the lowest", () => {
  const floor = goodsPoint(GOODS.map(Math.log), 0.05);
  const lowest = floor + 0.2 * (SHOT_THRESHOLD - floor); // inside the safeguard's bounds
  let p = defect(defect(profile(), "d1", 0.9), "d2", lowest);
  close(p.meta.threshold, SHOT_THRESHOLD, "two defects are not enough");
  p = defect(p, "d3", 0.9);
  close(p.meta.threshold, lowest, "three: no confirmed defect passes");
  strictEqual(p.memory.length, profile().memory.length, "a defect leaves the memory alone");
  ok(p.meta.calibration.feedback!.rule.includes("3 confirmed defect"));
  // Three defects together above the shots' threshold: the equal-error point between the classes
  // lies below the shots' threshold, and above the floor.
  let q = profile();
  for (const id of ["a", "b", "c"]) q = defect(q, id, 0.45);
  ok(q.meta.threshold > floor + 0.01 && q.meta.threshold < SHOT_THRESHOLD - 0.01, `${q.meta.threshold}`);
});

Deno.test("feedback: a mislabelled burst cannot pass the safeguard", () => {
  // 40 good parts labelled defect, scoring like the shots: the threshold stops at the goods' 95% point.
  let p = profile();
  for (let i = 0; i < 40; i++) p = defect(p, `d${i}`, 0.15);
  const floor = goodsPoint(GOODS.map(Math.log), 0.05);
  close(p.meta.threshold, floor, "held at the floor");
  close(feedbackThreshold(p.meta).floor, floor, "the floor reported");
  // 40 defects labelled good: their patches fill the memory, but the threshold never rises above the
  // shots' calibration carried to the memory in force.
  let q = profile();
  for (let i = 0; i < 40; i++) q = good(q, `g${i}`, 0.9);
  const parts = GOODS.length + FEEDBACK_DEFAULTS.maxMemoryFrames;
  close(q.meta.threshold, SHOT_THRESHOLD * (parts / GOODS.length) ** EXPONENT, "held at the ceiling");
  ok(q.meta.calibration.feedback!.rule.includes("shots' calibration"));
});

Deno.test("feedback: with one shot its views give one level, as calibration.ts takes them", () => {
  const p = profile();
  p.meta.enrollment.shots = 1;
  const level = GOODS.reduce((a, b) => a + b, 0) / GOODS.length;
  const t = patchThreshold({ scores: [level], exponent: null, measured: false }, PSEUDO).threshold;
  p.meta.threshold = t;
  close(feedbackThreshold(p.meta).threshold, t, "single-shot threshold");
});

Deno.test("feedback: a threshold set by hand since the last label becomes the ceiling", () => {
  const p = good(profile(), "g1", 0.15);
  p.meta.threshold -= 0.05; // adp threshold set, lower than the recalibration placed it
  const q = defect(p, "d1", 0.9); // one defect: nothing else would move it
  close(q.meta.threshold, p.meta.threshold, "the hand-set threshold stays");
  close(feedbackThreshold(q.meta).ceiling, p.meta.threshold, "as the ceiling");
  const r = defect(good(profile(), "g1", 0.15), "d1", 0.9);
  close(r.meta.threshold, good(profile(), "g1", 0.15).meta.threshold, "without it, the recalibrated one");
});
