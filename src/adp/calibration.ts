/**
 * Calibration math: pure functions of scores.
 *
 * @module
 */
import type { HeldOutDistances } from "./held_out.ts";
import { edgeOffsets, imageScore, measureEdgeExcess } from "./patch/mod.ts";
import type { CalibrationSpec, FusionSpec } from "./profile.ts";
import { fuseScores } from "./fusion.ts";
import { admitTextBranch } from "./text_admission.ts";

/**
 * The patch score shot `shot` gets against a memory of some of the shots' view grids, from the
 * measured distances: per test view the nearest of the memory's grids (and the self-reference),
 * averaged over the test views, less the shot's edge offsets, then the image score rule.
 *
 * @param d the held-out distances
 * @param shot the shot scored
 * @param grids memory grids as `j·W + w` (shot j, memory view w)
 * @param testViews which test views to average (default all)
 */
export function subsetScore(
  d: HeldOutDistances,
  shot: number,
  grids: readonly number[],
  testViews?: readonly number[],
): number {
  const offsets = d.edgeOffsets?.subarray(shot * d.cells, (shot + 1) * d.cells);
  return imageScore(subsetGrid(d, shot, grids, testViews), d.imageScore, offsets);
}

/** The distance grid behind {@linkcode subsetScore}, before the edge offsets and the image score. */
function subsetGrid(
  d: HeldOutDistances,
  shot: number,
  grids: readonly number[],
  testViews?: readonly number[],
): Float32Array {
  const { shots: k, testViews: u, memoryViews: w, cells } = d;
  const views = testViews ?? Array.from({ length: u }, (_, i) => i);
  const merged = new Float32Array(cells);
  for (const v of views) {
    const base = (shot * u + v) * k * w * cells;
    for (let c = 0; c < cells; c++) {
      let best = d.self ? d.self[(shot * u + v) * cells + c] : Infinity;
      for (const g of grids) {
        const x = d.cross[base + g * cells + c];
        if (x < best) best = x;
      }
      merged[c] += best / views.length;
    }
  }
  return merged;
}

/**
 * The station's edge excess (edge_excess.ts), from its good parts as the shots show them: each
 * shot against all the others (K ≥ 2), or each view of the one shot against its other views
 * (K = 1). Also returns the distances with each shot's edge offsets for calibration, measured
 * without that shot's own grid when there are others (K ≥ 2), so that no shot's edge pardons
 * itself and its held-out score stays what an unseen good part would get.
 *
 * @param d the held-out distances
 * @param grid the grid's shape
 * @param rings how many outer rings get their own excess
 * @returns the excess for the profile, and the distances with `edgeOffsets` set
 */
export function measureShotEdgeExcess(
  d: HeldOutDistances,
  grid: { gridH: number; gridW: number },
  rings: number,
): { excess: number[]; distances: HeldOutDistances } {
  const k = d.shots;
  const all = Array.from({ length: k }, (_, j) => j);
  const heldOut = k >= 2
    ? all.map((i) => subsetGrid(d, i, gridsOf(d, all.filter((j) => j !== i))))
    : Array.from({ length: Math.min(d.memoryViews, d.testViews) }, (_, v) => otherViewGrids(d, 0, v))
      .flatMap((grids, v) => (grids.length ? [subsetGrid(d, 0, grids, [v])] : []));
  const excess = measureEdgeExcess(heldOut, grid, rings);
  const offsets = new Float32Array(k * d.cells);
  all.forEach((i) => {
    const others = k >= 2 ? heldOut.filter((_, j) => j !== i) : heldOut;
    offsets.set(edgeOffsets(grid, measureEdgeExcess(others, grid, rings)), i * d.cells);
  });
  return { excess, distances: { ...d, edgeOffsets: offsets } };
}

/** Memory grids of every view of the given shots. */
export function gridsOf(d: Pick<HeldOutDistances, "memoryViews">, shots: readonly number[]): number[] {
  return shots.flatMap((j) => Array.from({ length: d.memoryViews }, (_, w) => j * d.memoryViews + w));
}

/**
 * Each shot's mean score against memories of m other shots, m = 1 … K − 1: random subsets of
 * the others (all their views), at most `subsets` per size, every subset when there are fewer.
 *
 * @returns [K][K − 1]: row i, column m − 1
 */
export function memoryCurves(
  d: HeldOutDistances,
  opts: { subsets?: number; seed?: number } = {},
): number[][] {
  const k = d.shots, most = opts.subsets ?? 8;
  let state = (opts.seed ?? 0) * 2654435761 + 12345;
  const next = () => {
    // xorshift32: enough for picking subsets, reproducible without the shared generator's streams.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const curves: number[][] = [];
  for (let i = 0; i < k; i++) {
    const others = Array.from({ length: k }, (_, j) => j).filter((j) => j !== i);
    const row: number[] = [];
    for (let m = 1; m < k; m++) {
      const picks = combinationsOrSample(others, m, most, next);
      let sum = 0;
      for (const pick of picks) sum += subsetScore(d, i, gridsOf(d, pick));
      row.push(sum / picks.length);
    }
    curves.push(row);
  }
  return curves;
}

/** All m-subsets when there are at most `most`, else `most` random distinct ones. */
function combinationsOrSample(
  items: readonly number[],
  m: number,
  most: number,
  next: () => number,
): number[][] {
  const total = binomial(items.length, m);
  if (total <= most) {
    const out: number[][] = [];
    const walk = (start: number, chosen: number[]) => {
      if (chosen.length === m) return void out.push([...chosen]);
      for (let s = start; s <= items.length - (m - chosen.length); s++) walk(s + 1, [...chosen, items[s]]);
    };
    walk(0, []);
    return out;
  }
  const seen = new Set<string>(), out: number[][] = [];
  while (out.length < most) {
    const pool = [...items];
    for (let s = pool.length - 1; s > 0; s--) {
      const j = Math.floor(next() * (s + 1));
      [pool[s], pool[j]] = [pool[j], pool[s]];
    }
    const pick = pool.slice(0, m).sort((a, b) => a - b), key = pick.join(",");
    if (!seen.has(key)) {
      seen.add(key);
      out.push(pick);
    }
  }
  return out;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/**
 * The score of each view of a shot against a memory of the shot's other views, through that view
 * alone: what one shot can say about itself (used at K = 1).
 */
export function selfViewScores(d: HeldOutDistances, shot = 0): number[] {
  const out: number[] = [];
  for (let v = 0; v < Math.min(d.memoryViews, d.testViews); v++) {
    const grids = otherViewGrids(d, shot, v);
    if (grids.length) out.push(subsetScore(d, shot, grids, [v]));
  }
  return out;
}

/** The memory grids of a shot's views other than view `v`. */
function otherViewGrids(d: Pick<HeldOutDistances, "memoryViews">, shot: number, v: number): number[] {
  return gridsOf(d, [shot]).filter((g) => g !== shot * d.memoryViews + v);
}

/**
 * The exponent b of the memory curve near its end, log score ≈ a_i + b·log m, fitted with a
 * level per shot over the upper half of the sizes (at least two sizes: K ≥ 3); null at K = 2.
 * Clamped to [−1, 0]: a score never grows with the memory.
 */
export function growthExponent(curves: readonly (readonly number[])[]): number | null {
  const sizes = curves[0]?.length ?? 0; // K − 1
  if (sizes < 2) return null;
  const from = Math.max(1, Math.floor(sizes / 2)); // m from `from` to K − 1
  let sxy = 0, sxx = 0;
  for (const row of curves) {
    const ms: number[] = [], ys: number[] = [];
    for (let m = from; m <= sizes; m++) {
      if (!(row[m - 1] > 0)) continue;
      ms.push(Math.log(m));
      ys.push(Math.log(row[m - 1]));
    }
    if (ms.length < 2) continue;
    const mx = ms.reduce((a, b) => a + b, 0) / ms.length, my = ys.reduce((a, b) => a + b, 0) / ys.length;
    ms.forEach((x, t) => {
      sxy += (x - mx) * (ys[t] - my);
      sxx += (x - mx) ** 2;
    });
  }
  if (sxx === 0) return null;
  return Math.min(0, Math.max(-1, sxy / sxx));
}

/**
 * Standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * ok(Math.abs(normalQuantile(0.99) - 2.3263) < 1e-4);
 * ```
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`Quantile needs 0 < p < 1: got ${p}`);
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const dd = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((dd[0] * q + dd[1]) * q + dd[2]) * q + dd[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Student's t quantile with ν degrees of freedom (Cornish–Fisher expansion about the normal
 * quantile; within 1% of the exact value for ν ≥ 3 at p ≤ 0.999).
 */
export function tQuantile(p: number, nu: number): number {
  const z = normalQuantile(p), z2 = z * z;
  return z + (z * (z2 + 1)) / (4 * nu) + (z * ((5 * z2 + 16) * z2 + 3)) / (96 * nu * nu) +
    (z * (((3 * z2 + 19) * z2 + 17) * z2 - 15)) / (384 * nu ** 3);
}

/** The knobs of {@linkcode patchThreshold}; their defaults and why are in CALIBRATION_DEFAULTS. */
export interface ThresholdOptions {
  /** Share of good parts the threshold may reject. */
  targetFalseRejectRate: number;
  /** The memory-growth exponent when the shots cannot measure it (K = 2). */
  priorExponent: number;
  /** Prior spread of unseen goods' log scores, and its weight in pseudo-observations. */
  priorLogSpread: number;
  priorWeight: number;
  /** K = 1: where between the shot's own level and the pseudo-anomalies' median the threshold sits (log scale). */
  singleShotPosition: number;
  /**
   * Never above this point between the unseen goods' and the pseudo-anomalies' log-score means
   * (0 … 1); null: the two classes' equal-error point, σ_good / (σ_good + σ_pseudo) of the way.
   */
  pseudoCeiling: number | null;
  /** How far the pseudo-anomalies may move the operating point: the most good parts rejected. */
  maxFalseRejectRate: number;
  /**
   * Whether that bound is the predictive quantile (else the estimate: normal quantile at the shrunk
   * spread, without the allowance for a mean estimated from few shots).
   */
  predictiveFloor: boolean;
}

/**
 * Defaults of the calibration, and why. They are the method's constants, set once on the dev sets
 * (MVTec bottle, magnetic tile, ELPV mono and poly), never per data set:
 * - target 1%: the profile's default operating point (issue 11);
 * - prior exponent −0.14: the memory curve's mean slope between one and two shots on the dev sets
 *   (bottle −0.21, mono −0.16, poly −0.09, tile −0.09; used only at K = 2, where the shots cannot
 *   measure it); at K ≥ 3 the shots' own slope;
 * - prior log spread 0.16 worth 8 shots: the good test parts' log-score spread is 0.16 on tile and
 *   poly, 0.23 on bottle and 0.37 on mono (the prior sits at the tight sets; the wide ones' shots
 *   correct it as K grows); below K = 8 the shots' own spread is mostly noise;
 * - K = 1 position 2/3, and the views' 95% point as its floor (see patchThreshold);
 * - the equal-error point may lower the threshold as far as the estimated 95% point of the goods:
 *   the most good parts a station should reject on synthetic evidence alone.
 */
export const CALIBRATION_DEFAULTS: ThresholdOptions = {
  targetFalseRejectRate: 0.01,
  priorExponent: -0.14,
  priorLogSpread: 0.16,
  priorWeight: 8,
  singleShotPosition: 2 / 3,
  pseudoCeiling: null,
  maxFalseRejectRate: 0.05,
  predictiveFloor: false,
};

/** Unseen goods' patch scores as the shots predict them, and how. */
export interface UnseenGoods {
  /** One predicted score per independent part (per shot; one at K = 1). */
  scores: number[];
  /** The memory-growth exponent used (null at K = 1). */
  exponent: number | null;
  /** Whether the exponent was measured on the shots (else the prior). */
  measured: boolean;
  /** K = 1: the views' scores against the shot's other views. */
  viewScores?: number[];
}

/**
 * Predicts the patch scores unseen good parts get against the full K-shot memory. K ≥ 2: each
 * shot's score against memories of m = 1 … K − 1 other shots (memoryCurves), the curve's
 * exponent near its end, and each shot's leave-one-out score carried from K − 1 to K along it.
 * K = 1: the mean score of the shot's views against its other views (one part, so one value).
 */
export function unseenGoods(
  d: HeldOutDistances,
  opts: Partial<ThresholdOptions> & { curves?: number[][] } = {},
): UnseenGoods {
  const k = d.shots;
  if (k === 1) {
    const views = selfViewScores(d);
    return { scores: [mean(views)], exponent: null, measured: false, viewScores: views };
  }
  const curves = opts.curves ?? memoryCurves(d);
  const fitted = growthExponent(curves);
  const exponent = fitted ?? opts.priorExponent ?? CALIBRATION_DEFAULTS.priorExponent;
  return {
    scores: curves.map((row) => row[k - 2] * (k / (k - 1)) ** exponent),
    exponent,
    measured: fitted !== null,
  };
}

/** The threshold on patch scores, and what decided it. */
export interface PatchThreshold {
  threshold: number;
  /** The estimated (1 − target) quantile of unseen goods (K ≥ 2), or the single-shot point. */
  goodQuantile: number;
  /** The pseudo-anomaly bound (Infinity when none). */
  ceiling: number;
  rule: string;
}

/**
 * The patch-score threshold.
 *
 * K ≥ 2: unseen goods' log scores are taken as normal, their spread shrunk toward a prior with
 * `priorWeight` pseudo-observations; the threshold is the predictive (1 − target) quantile, which
 * honours the operating point on average when the model holds. The pseudo-anomalies then say
 * where defects begin: when that quantile lies beyond the equal-error point between the goods and
 * the pseudo-anomalies (log scale, each class with its own spread), honouring the target would
 * pass most defects to save a few good parts, so the threshold comes down toward that point — but
 * never below the estimated (1 − maxFalseRejectRate) point of the goods.
 *
 * K = 1: one part says nothing of the spread between parts, and its views, all of one part, score
 * low against each other (a symmetric part's views are nearly identical). The threshold sits
 * `singleShotPosition` of the way (log scale) from the views' level to the median pseudo-anomaly,
 * but never below the views' (1 − maxFalseRejectRate) quantile with the prior spread (where the
 * pseudo-anomalies score barely above the views, as on a grainy texture that hides them).
 */
export function patchThreshold(
  goods: UnseenGoods,
  pseudoAnomalies: readonly number[],
  options: Partial<ThresholdOptions> = {},
): PatchThreshold {
  const o = { ...CALIBRATION_DEFAULTS, ...options };
  const logs = goods.scores.map((s) => Math.log(Math.max(s, 1e-6)));
  const n = logs.length, mu = mean(logs);
  const pseudo = pseudoAnomalies.map((s) => Math.log(Math.max(s, 1e-6)));
  const percent = (rate: number) => `${+(100 * (1 - rate)).toFixed(1)}%`;
  if (n < 2) {
    // The views' level as the goods' centre, the prior as their spread (known, not estimated).
    const at = (rate: number) => Math.exp(mu + normalQuantile(1 - rate) * o.priorLogSpread * Math.SQRT2);
    const floor = at(Math.max(o.maxFalseRejectRate, o.targetFalseRejectRate));
    if (!pseudo.length) {
      const threshold = at(o.targetFalseRejectRate);
      return {
        threshold,
        goodQuantile: threshold,
        ceiling: Infinity,
        rule: "one shot, no pseudo-anomalies: prior spread",
      };
    }
    const between = Math.exp(mu + o.singleShotPosition * (median(pseudo) - mu));
    const threshold = Math.max(between, floor);
    const rule = threshold > between
      ? `one shot: its views' ${percent(o.maxFalseRejectRate)} quantile with the prior spread`
      : `one shot: ${
        o.singleShotPosition.toFixed(2)
      } of the way (log) from its views to the median pseudo-anomaly`;
    return { threshold, goodQuantile: floor, ceiling: between, rule };
  }
  const spread = Math.sqrt(
    (o.priorWeight * o.priorLogSpread ** 2 + logs.reduce((a, x) => a + (x - mu) ** 2, 0)) /
      (o.priorWeight + n - 1),
  );
  const nu = o.priorWeight + n - 1;
  const quantile = (rate: number) => Math.exp(mu + tQuantile(1 - rate, nu) * spread * Math.sqrt(1 + 1 / n));
  const goodQuantile = quantile(o.targetFalseRejectRate);
  let rule = `unseen goods log-normal, ${percent(o.targetFalseRejectRate)} predictive quantile`;
  let ceiling = Infinity;
  if (pseudo.length >= 2) {
    const pm = mean(pseudo);
    const pseudoSpread = Math.sqrt(pseudo.reduce((a, x) => a + (x - pm) ** 2, 0) / (pseudo.length - 1));
    const position = o.pseudoCeiling ?? spread / (spread + pseudoSpread);
    if (pm > mu) ceiling = Math.exp(mu + position * (pm - mu));
  }
  const floorRate = Math.max(o.maxFalseRejectRate, o.targetFalseRejectRate);
  const floor = o.predictiveFloor
    ? quantile(floorRate)
    : Math.exp(mu + normalQuantile(1 - floorRate) * spread);
  let threshold = goodQuantile;
  if (ceiling < goodQuantile) {
    threshold = Math.max(ceiling, floor);
    rule += threshold > ceiling
      ? `, lowered toward the equal-error point with the pseudo-anomalies as far as the ${
        percent(o.maxFalseRejectRate)
      } quantile`
      : ", lowered to the equal-error point with the pseudo-anomalies";
  }
  return { threshold, goodQuantile, ceiling, rule };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** What {@linkcode calibrateStation} needs. */
export interface StationEvidence {
  /** The shots' patch distances (held_out.ts). */
  distances: HeldOutDistances;
  /**
   * Text scores of the held-out normals: one per shot (K ≥ 2), or one per view of the one shot
   * (K = 1, in the order of {@linkcode selfViewScores}).
   */
  normalText: readonly number[];
  /** Held-out pseudo-anomalies' branch scores, against the full memory. */
  pseudoAnomalies: readonly { patch: number; text: number }[];
}

/** Fusion, threshold and the record of how they were reached. */
export interface StationCalibration {
  fusion: FusionSpec;
  threshold: number;
  calibration: CalibrationSpec;
}

/**
 * The whole calibration of a station, from its shots and pseudo-anomalies alone.
 *
 * 1. Unseen goods' patch scores ({@linkcode unseenGoods}): the leave-one-out scores carried along
 *    the measured memory curve from K − 1 shots to K (K ≥ 2); the views of the shot (K = 1).
 * 2. The text branch joins only if the permutation test of text_admission.ts admits it, judged on
 *    those unseen-good predictions (one per shot: views of one shot count as one part).
 * 3. Standardisation: patch scores by the unseen goods' geometric mean and spread (log spread
 *    shrunk toward the prior, times the mean), text by the held-out normals.
 * 4. Threshold ({@linkcode patchThreshold}), in fused units; with the text branch in, the unseen
 *    goods' fused scores taken as normal with the same shrinkage, at the predictive quantile.
 */
export function calibrateStation(
  evidence: StationEvidence,
  options: Partial<ThresholdOptions> & { seed?: number; curves?: number[][] } = {},
): StationCalibration {
  const o = { ...CALIBRATION_DEFAULTS, ...options };
  const goods = unseenGoods(evidence.distances, { ...o, curves: options.curves });
  const pseudoPatch = evidence.pseudoAnomalies.map((s) => s.patch);
  const patch = patchThreshold(goods, pseudoPatch, o);
  const logs = goods.scores.map((s) => Math.log(Math.max(s, 1e-6)));
  const center = Math.exp(mean(logs));
  const n = logs.length, mu = mean(logs);
  const logSpread = Math.sqrt(
    (o.priorWeight * o.priorLogSpread ** 2 + logs.reduce((a, x) => a + (x - mu) ** 2, 0)) /
      (o.priorWeight + n - 1),
  );
  const text = evidence.normalText;
  const textMean = mean(text);
  const textSd = Math.sqrt(text.reduce((a, x) => a + (x - textMean) ** 2, 0) / Math.max(1, text.length - 1));
  const base: FusionSpec = {
    patchMean: center,
    patchStd: Math.max(center * logSpread, 1e-6),
    textMean,
    textStd: Math.max(textSd, 0.05 * Math.abs(textMean), 1e-6),
    textWeight: 0,
  };
  // Text admission on one (patch, text) pair per part.
  const pairs = goods.viewScores
    ? goods.viewScores.map((p, i) => ({ patch: p, text: text[i] ?? textMean }))
    : goods.scores.map((p, i) => ({ patch: p, text: text[i] }));
  const admission = admitTextBranch(pairs, evidence.pseudoAnomalies, {
    groups: goods.viewScores ? pairs.map(() => 0) : undefined,
    seed: options.seed,
  });
  const fusion = { ...base, textWeight: admission.weight };
  const normalScores = pairs.map((s) => fuseScores(s, fusion));
  const pseudoAnomalyScores = evidence.pseudoAnomalies.map((s) => fuseScores(s, fusion));
  let threshold: number, method: string;
  if (!admission.admitted) {
    threshold = (patch.threshold - base.patchMean) / base.patchStd;
    method = patch.rule;
  } else {
    const f = normalScores, fm = mean(f);
    const spread = Math.sqrt(
      (o.priorWeight + f.reduce((a, x) => a + (x - fm) ** 2, 0)) / (o.priorWeight + f.length - 1),
    );
    const q = tQuantile(1 - o.targetFalseRejectRate, o.priorWeight + f.length - 1);
    threshold = fm + q * spread * Math.sqrt(1 + 1 / f.length);
    method = `fused unseen goods normal, ${
      (100 * (1 - o.targetFalseRejectRate)).toFixed(1)
    }% predictive quantile`;
  }
  return {
    fusion,
    threshold,
    calibration: {
      method,
      normalScores,
      pseudoAnomalyScores,
      targetFalseRejectRate: o.targetFalseRejectRate,
      memoryExponent: goods.exponent,
      textAdmission: {
        admitted: admission.admitted,
        gain: admission.gain,
        pValue: admission.pValue,
        reason: admission.reason,
      },
    },
  };
}
