/**
 * How small a calibration gap any threshold set from K shots can expect, given a ranking: the
 * *sampling bound*. Pure.
 *
 * A station's level is unknown before it sees its parts: a factor on all its scores (a rougher
 * texture lengthens every patch distance), or, taken the other way, an offset. A calibration sees K
 * good parts, so it knows that level only to the sampling error of K parts' mean: σ/√K on the
 * scale where the level is a shift (log scores for a factor, the scores themselves for an offset;
 * σ the test goods' spread there; no estimate from K normal samples does better). The bound grants
 * everything else: σ known exactly, and per K and per data set the offset z (threshold = level +
 * z·σ) that suits the test set best, subject to a mean false-reject rate over all runs. A real
 * calibration also errs on the spread, on how the memory of K shots scores against K − 1, and on
 * the test goods' shift from the shots; so where the bound exceeds a target gap, no calibration
 * from the shots meets that target on average over draws: the ranking does not allow it.
 *
 * (σ is granted on the level's own scale only: on any other scale the spread moves with the level
 * and would tell the calibration where it lies.)
 *
 * @module
 */
import { normalQuantile } from "../adp/mod.ts";
import { imageAuroc } from "../metrics/mod.ts";
import { Random } from "../random.ts";
import { meanStd } from "./summary.ts";

/** One run's test scores (positive for the log scale: patch distances) and labels (1 = defective), at K shots. */
export interface BoundRun {
  k: number;
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
}

/** The bound at one K: the chosen offset and what it leaves, in expectation over the level's error. */
export interface BoundAtK {
  k: number;
  runs: number;
  /** Threshold offset above the goods' level, in units of their spread (both on the bound's scale). */
  z: number;
  gap: number;
  falseRejectRate: number;
}

/** The least mean calibration gap over all runs whose mean false-reject rate stays within the limit. */
export interface SamplingBound {
  gap: number;
  falseRejectRate: number;
  /** Each K's offset and figures, in increasing K (each run's, in the runs' order, with `offsetsPer: "run"`). */
  perK: BoundAtK[];
}

/** Options of {@linkcode samplingBound}. */
export interface SamplingBoundOptions {
  /** The mean false-reject rate over all runs the offsets must keep to. */
  maxFalseRejectRate?: number;
  /** Whether the level errs by σ/√K (else it is known exactly: the bound of the ranking alone). */
  sampling?: boolean;
  /**
   * Whether one offset serves all runs at a K (`k`, the default: a rule the station could follow) or
   * each run gets its own (`run`: as if each station knew its own defects).
   */
  offsetsPer?: "k" | "run";
  /** Offsets tried, in units of σ. */
  offsets?: readonly number[];
  /** Where the level is a shift: `log` (a factor on the scores, the default) or `linear` (an offset). */
  scale?: "log" | "linear";
  /**
   * The level's error: `normal` (standard deviation σ/√K, by quadrature) or `resampled` (the mean,
   * on the scale, of K goods drawn from the run's own test goods: the error's true shape for a
   * skewed population, at the cost of Monte Carlo noise).
   */
  errors?: "normal" | "resampled";
  /** Quadrature nodes (`normal`: midpoints of equal-probability bins) or draws (`resampled`). */
  nodes?: number;
  /** Seed of the draws (`resampled`). */
  seed?: number;
}

const DEFAULT_OFFSETS = Array.from({ length: 201 }, (_, i) => i * 0.02);
/** Resolution of the false-reject budget in the allocation (rates are rounded down to it). */
const BUDGET_STEP = 0.0005;

/**
 * The sampling bound of a set of runs (one data set, any mix of K).
 *
 * Per run, the goods' scores on the scale (log by default) give the level μ and spread σ; a
 * threshold at μ + (z + ε/√K)·σ there, ε standard normal, is averaged over ε by quadrature (or over
 * resampled sets of K goods). The offsets per K are then allocated to minimise the mean gap over all
 * runs within the mean false-reject limit (dynamic programming over the budget, rates rounded down:
 * the bound may only come out lower, never higher).
 *
 * @example Goods and defects far apart: some offset rejects no good part and catches every defect
 * ```ts
 * import { ok } from "node:assert/strict";
 * const goods = [1, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01], defects = [50, 60, 70, 80];
 * const run = { k: 4, scores: [...goods, ...defects], labels: [...goods.map(() => 0), ...defects.map(() => 1)] };
 * const bound = samplingBound([run]);
 * ok(bound.gap < 0.01 && bound.falseRejectRate < 0.05);
 * ```
 */
export function samplingBound(runs: readonly BoundRun[], options: SamplingBoundOptions = {}): SamplingBound {
  const maxRate = options.maxFalseRejectRate ?? 0.05, offsets = options.offsets ?? DEFAULT_OFFSETS;
  const random = new Random(options.seed ?? 0);
  const prepared = runs.map((r) => {
    const run = prepareRun(r, options.scale ?? "log");
    // Each threshold's deviation from the level, in units of σ, before the offset.
    const deviations = options.sampling === false
      ? [0]
      : options.errors === "resampled"
      ? resampledDeviations(run, options.nodes ?? 256, random)
      : quadratureNodes(options.nodes ?? 64).map((e) => e / Math.sqrt(r.k));
    return { ...run, deviations };
  });
  const perRun = options.offsetsPer === "run";
  const ks = perRun ? runs.map((r) => r.k) : [...new Set(runs.map((r) => r.k))].sort((a, b) => a - b);
  // Expected gap and false-reject rate per K (or run) and offset, summed over the group's runs.
  const table = ks.map((k, i) => {
    const group = perRun ? [prepared[i]] : prepared.filter((r) => r.k === k);
    return offsets.map((z) => {
      let gap = 0, frr = 0;
      for (const r of group) {
        for (const d of r.deviations) {
          const v = r.at(r.level + (z + d) * r.spread);
          gap += v.gap / r.deviations.length;
          frr += v.frr / r.deviations.length;
        }
      }
      return { z, gap, frr, runs: group.length };
    });
  });
  const pick = allocate(table, maxRate * runs.length);
  const perK = pick.map((c, i) => ({
    k: ks[i],
    runs: c.runs,
    z: c.z,
    gap: c.gap / c.runs,
    falseRejectRate: c.frr / c.runs,
  }));
  return {
    gap: pick.reduce((a, c) => a + c.gap, 0) / runs.length,
    falseRejectRate: pick.reduce((a, c) => a + c.frr, 0) / runs.length,
    perK,
  };
}

interface Choice {
  z: number;
  gap: number;
  frr: number;
  runs: number;
}

/** One choice per row minimising the summed gap with the summed false rejects within `budget`. */
function allocate(table: readonly Choice[][], budget: number): Choice[] {
  const slots = Math.floor(budget / BUDGET_STEP + 1e-9);
  // best[b]: least gap using at most b slots so far, with the picks that reach it.
  let best: { gap: number; picks: Choice[] }[] = Array.from(
    { length: slots + 1 },
    () => ({ gap: 0, picks: [] }),
  );
  for (const row of table) {
    const next = Array.from({ length: slots + 1 }, () => ({ gap: Infinity, picks: [] as Choice[] }));
    for (let b = 0; b <= slots; b++) {
      for (const c of row) {
        const cost = Math.floor(c.frr / BUDGET_STEP + 1e-9);
        if (cost > b || !Number.isFinite(best[b - cost].gap)) continue;
        const gap = best[b - cost].gap + c.gap;
        if (gap < next[b].gap) next[b] = { gap, picks: [...best[b - cost].picks, c] };
      }
    }
    best = next;
  }
  const end = best[slots];
  if (!Number.isFinite(end.gap)) {
    throw new RangeError("No offsets keep the false-reject rate within the limit");
  }
  return end.picks;
}

/** Midpoints of `n` equal-probability bins of the standard normal. */
function quadratureNodes(n: number): number[] {
  return Array.from({ length: n }, (_, i) => normalQuantile((i + 0.5) / n));
}

/** The means of `draws` sets of K distinct goods, less the level, in units of σ. */
function resampledDeviations(run: PreparedRun, draws: number, random: Random): number[] {
  const k = Math.min(run.k, run.goods.length);
  return Array.from({ length: draws }, () => {
    const picks = random.sample(run.goods.length, k);
    const mean = picks.reduce((a, i) => a + run.goods[i], 0) / k;
    return (mean - run.level) / run.spread;
  });
}

type PreparedRun = ReturnType<typeof prepareRun>;

/** A run's goods' level and spread on the scale, and its verdicts at any threshold there by binary search. */
function prepareRun(run: BoundRun, scale: "log" | "linear") {
  const logs = Array.from(run.scores, (s) => (scale === "log" ? Math.log(Math.max(s, 1e-12)) : s));
  const goods = logs.filter((_, i) => !run.labels[i]).sort((a, b) => a - b);
  const defects = logs.filter((_, i) => run.labels[i]).sort((a, b) => a - b);
  if (goods.length < 2 || !defects.length) {
    throw new RangeError("A run needs two good and one defective score");
  }
  const { mean: level, std: spread } = meanStd(goods) as { mean: number; std: number };
  const below = (xs: number[], t: number) => {
    let lo = 0, hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const errorAt = (t: number) => {
    const frr = 1 - below(goods, t) / goods.length, miss = below(defects, t) / defects.length;
    return { frr, be: (frr + miss) / 2 };
  };
  // The oracle: the best balanced error over thresholds at every score and above them all.
  let oracle = 0.5;
  for (const t of [...goods, ...defects]) oracle = Math.min(oracle, errorAt(t).be);
  return {
    k: run.k,
    goods,
    level,
    spread,
    at: (t: number) => {
      const { frr, be } = errorAt(t);
      return { frr, gap: be - oracle };
    },
  };
}

/** A data set's bound, the same with the level known, and the separation its ranking would need. */
export interface CategoryBound {
  category: string;
  runs: number;
  bound: SamplingBound;
  /** The bound's mean gap with the level an offset (`scale: "linear"`) rather than a factor. */
  asOffset: number;
  /** The bound's mean gap with the level's error resampled from the test goods (`errors: "resampled"`). */
  resampled: number;
  /** The bound's mean gap with an offset of its own for every run (`offsetsPer: "run"`). */
  offsetPerRun: number;
  /** The bound without the sampling error: the ranking's share alone. */
  levelKnown: number;
  /**
   * The least δ (steps of ¼, up to 4) by which raising every defect's log score by δ goods' log
   * spreads brings the bound to the target, and the mean image AUROC that gives; null beyond 4.
   */
  separationNeeded: { delta: number; imageAuroc: number } | null;
}

/**
 * The sampling bound of each data set's runs, with what it would take to reach `target`.
 *
 * @param byCategory each data set's runs (positive scores: patch distances)
 * @param target the mean gap the separation is sought for
 */
export function categoryBounds(
  byCategory: ReadonlyMap<string, readonly BoundRun[]>,
  target = 0.05,
): CategoryBound[] {
  return [...byCategory].sort((a, b) => a[0].localeCompare(b[0])).map(([category, runs]) => {
    let separationNeeded: CategoryBound["separationNeeded"] = null;
    for (let delta = 0; delta <= 4 && !separationNeeded; delta += 0.25) {
      const shifted = runs.map((r) => separated(r, delta));
      if (samplingBound(shifted).gap > target) continue;
      const auroc = shifted.reduce((a, r) => a + imageAuroc(r.scores, r.labels), 0) / shifted.length;
      separationNeeded = { delta, imageAuroc: auroc };
    }
    return {
      category,
      runs: runs.length,
      bound: samplingBound(runs),
      asOffset: samplingBound(runs, { scale: "linear" }).gap,
      resampled: samplingBound(runs, { errors: "resampled" }).gap,
      offsetPerRun: samplingBound(runs, { offsetsPer: "run" }).gap,
      levelKnown: samplingBound(runs, { sampling: false }).gap,
      separationNeeded,
    };
  });
}

/** The run with every defect's log score raised by `delta` of the goods' log spread. */
function separated(run: BoundRun, delta: number): BoundRun {
  const logs = Array.from(run.scores, Math.log);
  const spread = meanStd(logs.filter((_, i) => !run.labels[i])).std!;
  const scores = Array.from(
    run.scores,
    (s, i) => (run.labels[i] ? Math.exp(logs[i] + delta * spread) : s),
  );
  return { ...run, scores };
}
