/**
 * Means and spreads over seeds: per category and K, and overall (each seed's mean over the
 * categories, then mean and spread of those), for every variant and metric. Pure: saved runs in,
 * the summary out.
 *
 * The spread is the sample standard deviation (n − 1): with three seeds it is the honest estimate
 * of how much a table entry moves with the draw of shots; one seed gives 0.
 *
 * @module
 */
import type { RunMetrics, RunRecord } from "./run_store.ts";
import type { Variant } from "./protocol.ts";

/** The metrics reported per entry. */
export const METRICS = [
  "imageAuroc",
  "pixelAuroc",
  "aupro",
  "imageF1Max",
  "pixelF1Max",
  "falseRejectRate",
  "missRate",
  "balancedError",
  "oracleBalancedError",
  "calibrationGap",
  "textWeight",
] as const;
/** One reported metric. */
export type Metric = typeof METRICS[number];

/** Means over seeds (null where the variant has no such metric), their spreads, and the seeds' values. */
export type MetricMeans = Record<Metric, number | null>;

/** One variant at one (category, K). */
export interface VariantSummary extends MetricMeans {
  /** Sample standard deviations over seeds. */
  std: MetricMeans;
  /** Each seed's value, in the seeds' order. */
  perSeed: Record<Metric, (number | null)[]>;
}

/** One (category, K) entry: the primary variant's figures at the top level, every variant below. */
export interface ShotSummary extends VariantSummary {
  /** Every scored variant's figures. */
  variants: Partial<Record<Variant, VariantSummary>>;
}

/** The whole evaluation's figures. */
export interface EvalSummary {
  /** The seeds summarised. */
  seeds: number[];
  /** The shot counts summarised. */
  shots: number[];
  /** The variants summarised; the first is the primary one. */
  variants: Variant[];
  /** category → K → entry. */
  categories: Record<string, Record<string, ShotSummary>>;
  /** K → entry over all categories. */
  overall: Record<string, ShotSummary>;
}

/**
 * Summarises runs.
 *
 * @param runs every run, each with its category
 * @param plan the categories, shot counts, seeds and variants (the first variant is the primary)
 * @returns the summary
 * @throws {RangeError} when a planned run is missing
 */
export function summarize(
  runs: readonly { category: string; record: RunRecord }[],
  plan: {
    categories: readonly string[];
    shots: readonly number[];
    seeds: readonly number[];
    variants: readonly Variant[];
  },
): EvalSummary {
  const find = (category: string, k: number, seed: number) => {
    const hit = runs.find((r) => r.category === category && r.record.k === k && r.record.seed === seed);
    if (!hit) throw new RangeError(`Run ${category} K=${k} seed ${seed} is missing from the summary`);
    return hit.record;
  };
  const entry = (perSeed: (v: Variant, seed: number) => RunMetrics | undefined): ShotSummary => {
    const variants: Partial<Record<Variant, VariantSummary>> = {};
    for (const v of plan.variants) variants[v] = variantSummary(plan.seeds.map((s) => perSeed(v, s)));
    return { ...variants[plan.variants[0]]!, variants };
  };
  const categories: Record<string, Record<string, ShotSummary>> = {};
  const overall: Record<string, ShotSummary> = {};
  for (const k of plan.shots) {
    for (const c of plan.categories) {
      (categories[c] ??= {})[String(k)] = entry((v, seed) => find(c, k, seed).variants[v]?.metrics);
    }
    overall[String(k)] = entry((v, seed) =>
      meanMetrics(plan.categories.map((c) => find(c, k, seed).variants[v]?.metrics))
    );
  }
  return {
    seeds: [...plan.seeds],
    shots: [...plan.shots],
    variants: [...plan.variants],
    categories,
    overall,
  };
}

/** Mean and sample spread of each metric over the seeds' values (null if any seed lacks it). */
function variantSummary(perSeed: readonly (RunMetrics | undefined)[]): VariantSummary {
  const means = {} as MetricMeans, std = {} as MetricMeans;
  const values = {} as Record<Metric, (number | null)[]>;
  for (const m of METRICS) {
    const xs = perSeed.map((r) => r?.[m] ?? null);
    values[m] = xs;
    const stats = meanStd(xs);
    means[m] = stats.mean;
    std[m] = stats.std;
  }
  return { ...means, std, perSeed: values };
}

/** Metric-wise mean over categories; a metric missing in any category is missing. */
function meanMetrics(list: readonly (RunMetrics | undefined)[]): RunMetrics | undefined {
  if (list.some((r) => r === undefined)) return undefined;
  const out = {} as Record<Metric, number | null>;
  for (const m of METRICS) out[m] = meanStd(list.map((r) => r![m] ?? null)).mean;
  return out as RunMetrics;
}

/**
 * Mean and sample standard deviation, null when any value is null or there are none.
 *
 * @param values the values
 * @returns mean and spread (0 for one value)
 *
 * @example Three seeds
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const { mean, std } = meanStd([1, 2, 3]);
 * strictEqual(mean, 2);
 * strictEqual(std, 1);
 * ```
 */
export function meanStd(values: readonly (number | null)[]): { mean: number | null; std: number | null } {
  if (!values.length || values.some((v) => v === null || !Number.isFinite(v))) {
    return { mean: null, std: null };
  }
  const xs = values as number[];
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length === 1) return { mean, std: 0 };
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
}
