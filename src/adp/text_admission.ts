/**
 * Whether the text branch joins the fused score: a permutation test, not a fixed margin.
 *
 * The evidence is the pseudo-validation set: held-out normals (label 0) and held-out
 * pseudo-anomalies (label 1), each with both branch scores, standardised by the normals. The
 * statistic is what the text branch adds to the patch branch's ranking there: the best AUROC of
 * `(1 − w)·patch + w·text` over a grid of weights w > 0, minus the patch branch's own AUROC. Taking
 * the best weight flatters any branch, noise included, so the statistic is judged against its own
 * distribution under the null hypothesis that the text scores carry no information: the text scores
 * shuffled across all samples (patch scores and labels kept), the statistic recomputed, `B` times.
 * The branch is admitted at the best weight only when
 * - the observed gain is at most `alpha` likely under that null (p = (1 + #{null ≥ observed}) / (1 + B)),
 * - the gain is at least `minGain` (0.05 AUROC): a random network's text branch does carry
 *   information about pseudo-anomalies — pasted patches move any image feature, and the normals it
 *   is judged on are the shots its concepts were fitted to — so on magnetic tile at K = 16 a random
 *   tiny CLIP's branch reached a significant gain of 0.037 (p = 0.001) that cost 0.007 image AUROC
 *   on real defects; significance alone cannot tell synthetic from real evidence, size must, and
 * - the sample is large enough to say anything: at least `minNormals` *independent* normals (views
 *   of one shot are one part, not several: `groups` says which normals belong together) and
 *   `minAnomalies` pseudo-anomalies.
 *
 * The patch branch usually separates pseudo-anomalies almost perfectly, which leaves the text
 * branch little to add: by design, since pseudo-anomalies are not real defects and the normals the
 * text branch is judged on are the very shots its concepts were learned from (an in-sample, hence
 * optimistic, judgement).
 *
 * @module
 */
import { imageAuroc } from "../metrics/mod.ts";
import { Random } from "../random.ts";

/** Both branch scores of one image. */
export interface PairedScores {
  patch: number;
  text: number;
}

/** Options of {@linkcode admitTextBranch}. */
export interface AdmissionOptions {
  /** Group of each normal (e.g. the shot a view is of); default: every normal its own. */
  groups?: readonly number[];
  /** Weights tried for the text branch, each in (0, 1]. @default {0.1, 0.2, …, 1} */
  weights?: readonly number[];
  /** Permutations of the null distribution. @default 1999 */
  permutations?: number;
  /** Largest p-value admitted. @default 0.001 */
  alpha?: number;
  /** Smallest AUROC gain admitted. @default 0.05 */
  minGain?: number;
  /** Independent normals needed. @default 8 */
  minNormals?: number;
  /** Pseudo-anomalies needed. @default 16 */
  minAnomalies?: number;
  /** Seed of the permutations. @default 0 */
  seed?: number;
}

/** The decision and its evidence. */
export interface AdmissionResult {
  admitted: boolean;
  /** The text weight to use: the best weight when admitted, else 0. */
  weight: number;
  /** The best weight's AUROC gain over the patch branch alone. */
  gain: number;
  /** The permutation p-value of the gain (1 when not tested). */
  pValue: number;
  /** Why, in words. */
  reason: string;
}

/** Defaults of {@linkcode admitTextBranch}. */
export const ADMISSION_DEFAULTS = {
  weights: Array.from({ length: 10 }, (_, i) => (i + 1) / 10),
  permutations: 1999,
  alpha: 0.001,
  minGain: 0.05,
  minNormals: 8,
  minAnomalies: 16,
} as const;

/**
 * Decides whether the text branch joins, and at which weight.
 *
 * @param normals held-out normals' branch scores
 * @param anomalies held-out pseudo-anomalies' branch scores
 * @param opts test settings (defaults: {@linkcode ADMISSION_DEFAULTS})
 */
export function admitTextBranch(
  normals: readonly PairedScores[],
  anomalies: readonly PairedScores[],
  opts: AdmissionOptions = {},
): AdmissionResult {
  const weights = opts.weights ?? ADMISSION_DEFAULTS.weights;
  const permutations = opts.permutations ?? ADMISSION_DEFAULTS.permutations;
  const alpha = opts.alpha ?? ADMISSION_DEFAULTS.alpha;
  const minGain = opts.minGain ?? ADMISSION_DEFAULTS.minGain;
  const minNormals = opts.minNormals ?? ADMISSION_DEFAULTS.minNormals;
  const minAnomalies = opts.minAnomalies ?? ADMISSION_DEFAULTS.minAnomalies;
  const independent = new Set(opts.groups ?? normals.map((_, i) => i)).size;
  const rejected = (reason: string, gain = 0, pValue = 1): AdmissionResult => ({
    admitted: false,
    weight: 0,
    gain,
    pValue,
    reason,
  });
  if (independent < minNormals || anomalies.length < minAnomalies) {
    return rejected(
      `too few to judge: ${independent} independent normals (need ${minNormals}), ` +
        `${anomalies.length} pseudo-anomalies (need ${minAnomalies})`,
    );
  }
  const n = normals.length, all = [...normals, ...anomalies];
  const labels = Uint8Array.from(all, (_, i) => (i < n ? 0 : 1));
  const patch = standardised(all.map((s) => s.patch), n);
  const observed = bestGain(patch, all.map((s) => s.text), labels, n, weights);
  if (observed.gain < minGain) {
    return rejected(`gain ${observed.gain.toFixed(3)} below ${minGain}`, observed.gain);
  }
  const rng = Random.forStream(opts.seed ?? 0, "text-admission");
  const text = all.map((s) => s.text);
  let atLeast = 0;
  for (let b = 0; b < permutations; b++) {
    for (let i = text.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [text[i], text[j]] = [text[j], text[i]];
    }
    if (bestGain(patch, text, labels, n, weights).gain >= observed.gain - 1e-12) atLeast++;
  }
  const pValue = (1 + atLeast) / (1 + permutations);
  if (pValue > alpha) {
    return rejected(
      `gain ${observed.gain.toFixed(3)} not significant (p ${pValue.toFixed(3)})`,
      observed.gain,
      pValue,
    );
  }
  return {
    admitted: true,
    weight: observed.weight,
    gain: observed.gain,
    pValue,
    reason: `gain ${observed.gain.toFixed(3)} at weight ${observed.weight} (p ${pValue.toFixed(3)})`,
  };
}

/** Scores standardised by the first `n` (the normals). */
function standardised(xs: readonly number[], n: number): Float64Array {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += xs[i] / n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (xs[i] - mean) ** 2;
  const sd = Math.max(Math.sqrt(v / Math.max(1, n - 1)), 1e-6 * Math.max(1, Math.abs(mean)));
  return Float64Array.from(xs, (x) => (x - mean) / sd);
}

function bestGain(
  patch: Float64Array,
  rawText: readonly number[],
  labels: Uint8Array,
  n: number,
  weights: readonly number[],
): { gain: number; weight: number } {
  const text = standardised(rawText, n);
  const base = imageAuroc(patch, labels);
  let best = { gain: -Infinity, weight: 0 };
  const mixed = new Float64Array(patch.length);
  for (const w of weights) {
    for (let i = 0; i < mixed.length; i++) mixed[i] = (1 - w) * patch[i] + w * text[i];
    const gain = imageAuroc(mixed, labels) - base;
    if (gain > best.gain + 1e-12) best = { gain, weight: w };
  }
  return best;
}
