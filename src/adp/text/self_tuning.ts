/**
 * Self-tuning (eq. 5–6): each candidate prompt pair — the learned normal-aware concept c_n*, the
 * anomaly-aware concept c_a*, and the operator's label word ℓ when given (ADP_ℓ) — is weighted by how
 * well it separates a pseudo-validation set (the normal shots against held-out pseudo-anomalies),
 * and the prototypes p_n, p_a are the weighted averages of the candidates' prompt-set embeddings.
 *
 * The weight is the candidate's AUROC margin over chance, max(AUROC − ½, 0): a candidate that ranks
 * the pseudo-anomalies no better than a coin contributes nothing, and one that separates them
 * perfectly counts most. If no candidate beats chance the weights are uniform, so the text branch
 * still exists and calibration (which weighs the branches) decides how much it counts.
 *
 * @module
 */
import { imageAuroc } from "../../metrics/mod.ts";
import { normalizeRows } from "../../vector.ts";
import { textAnomalyScores } from "./text_score.ts";

/** One candidate: its name and its prompt sets' embeddings G(S_n), G(S_a) (unit norm). */
export interface PromptCandidate {
  /** How weights and AUROCs are keyed: "normal-concept", "anomaly-concept", "label:<word>". */
  name: string;
  /** G(S_n) [E]. */
  normal: Float64Array;
  /** G(S_a) [E]. */
  anomalous: Float64Array;
}

/** Images with known labels (0 normal, 1 pseudo-anomaly), unit-norm features [V, E]. */
export interface PseudoValidation {
  /** [V, E], unit rows. */
  features: Float64Array;
  /** [V]: 0 normal, 1 pseudo-anomaly. */
  labels: Uint8Array;
}

/** The weights and the prototypes they give. */
export interface SelfTuningResult {
  /** w(c) per candidate name, summing to 1. */
  weights: Record<string, number>;
  /** Each candidate's AUROC on the pseudo-validation set. */
  aurocs: Record<string, number>;
  /** p_n [E], unit norm. */
  prototypeNormal: Float64Array;
  /** p_a [E], unit norm. */
  prototypeAnomalous: Float64Array;
}

/** Weighs the candidates on the validation set and averages them into prototypes. */
export function selfTune(
  candidates: readonly PromptCandidate[],
  validation: PseudoValidation,
  logitScale: number,
): SelfTuningResult {
  const aurocs: Record<string, number> = {};
  const raw = candidates.map((c) => {
    const anomaly = textAnomalyScores(validation.features, c.normal, c.anomalous, logitScale);
    aurocs[c.name] = imageAuroc(anomaly, validation.labels);
    return Math.max(aurocs[c.name] - 0.5, 0);
  });
  const total = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((r) => (total > 0 ? r / total : 1 / candidates.length));
  const e = candidates[0].normal.length;
  const mix = (pick: (c: PromptCandidate) => Float64Array) => {
    const sum = new Float64Array(e);
    candidates.forEach((c, i) => pick(c).forEach((v, k) => (sum[k] += w[i] * v)));
    return normalizeRows(sum, e).unit;
  };
  return {
    weights: Object.fromEntries(candidates.map((c, i) => [c.name, w[i]])),
    aurocs,
    prototypeNormal: mix((c) => c.normal),
    prototypeAnomalous: mix((c) => c.anomalous),
  };
}
