/**
 * Fusing the text and patch branches: each branch's score standardised (centre and spread from
 * calibration), then a convex mix. How the centres, spreads, weight and threshold are chosen, from
 * the shots and their pseudo-anomalies alone, is calibration.ts; whether the text branch gets any
 * weight, text_admission.ts.
 *
 * @module
 */
import type { FusionSpec } from "./profile.ts";

/** Both branch scores of one image. */
export interface BranchScores {
  /** The patch branch's image score (distance to the nearest normal patches). */
  patch: number;
  /** The text branch's P(anomalous). */
  text: number;
}

/** The fused, standardised score of one image. */
export function fuseScores(s: BranchScores, f: FusionSpec): number {
  const patch = (s.patch - f.patchMean) / f.patchStd;
  const text = (s.text - f.textMean) / f.textStd;
  return (1 - f.textWeight) * patch + f.textWeight * text;
}
