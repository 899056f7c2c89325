/**
 * The concept-learning objectives of ADP (eq. 3 and 4) as functions of the text features, with their
 * gradients. The text transformer's part of the chain rule is the VJP graph's job; this file covers
 * the few hundred numbers after it: normalisation, prompt-set averaging, the two-way softmax and the
 * alignment term. Float64 throughout, so the finite-difference checks in the tests are sharp.
 *
 * Notation: u = t/|t| per prompt; G(S) = normalise(mean of u over S); for an image x (unit norm),
 * P_n(x) = softmax(s·x·G(S_n), s·x·G(S_a))[0] = σ(s·x·(G(S_n) − G(S_a))) with s the logit scale.
 *
 * Normal-aware (eq. 3), minimised: −α·mean_i P_n(x_i) − λ·mean_i mean_{T} cos(x_i, g(T(c))).
 * The second term stands in for the paper's Stable Diffusion textual-inversion likelihood (no
 * diffusion weights exist here): it pulls the concept's plain prompts toward the normal images in
 * CLIP space, which is what "the concept depicts these parts" means to CLIP. A diffusion-based term
 * can replace it behind the same gradient interface.
 *
 * Anomaly-aware (eq. 4) adds +α·mean_j max(P_n(x̃_j) − γ, 0) over the pseudo-anomalies x̃_j: the
 * normal prompt set must stop describing them.
 *
 * @module
 */
import { dot, normalizeRows } from "../../vector.ts";

/** Weights of the objective's terms. */
export interface ConceptLossWeights {
  /** α: weight of the normality probability (and of the pseudo-anomaly hinge). */
  alpha: number;
  /** λ: weight of the alignment term. */
  lambda: number;
  /** γ: the pseudo-anomalies' P_n may stay up to this value unpenalised. */
  gamma: number;
}

/** What the objective is evaluated on. */
export interface ConceptLossInput {
  readonly embedDim: number;
  /** CLIP's logit scale s (exp of the checkpoint's stored log; 100 for trained CLIP). */
  readonly logitScale: number;
  /** Normal images' features [K, E], unit norm. */
  readonly normals: Float64Array;
  /** Pseudo-anomalies' features [J, E], unit norm; absent for eq. 3. */
  readonly anomalies?: Float64Array;
  /** Raw text features of the normal-state prompts [|S_n|, E]. */
  readonly normalText: ArrayLike<number>;
  /** Raw text features of the anomalous-state prompts [|S_a|, E]. */
  readonly anomalousText: ArrayLike<number>;
  /** Raw text features of the plain prompts [|T|, E] (empty when λ = 0). */
  readonly plainText: ArrayLike<number>;
}

/** The objective's value, its gradient per prompt group, and the probabilities it saw. */
export interface ConceptLossResult {
  loss: number;
  gradNormalText: Float64Array;
  gradAnomalousText: Float64Array;
  gradPlainText: Float64Array;
  /** P_n of each normal image. */
  normalProbability: Float64Array;
  /** P_n of each pseudo-anomaly. */
  anomalyProbability: Float64Array;
}

/** G(S): the normalised mean of the prompts' unit features, with what its backward pass needs. */
export function promptSetEmbedding(text: ArrayLike<number>, width: number): Float64Array {
  return _promptSet(text, width).g;
}

interface PromptSetForward {
  unit: Float64Array;
  norms: Float64Array;
  mean: Float64Array;
  meanNorm: number;
  g: Float64Array;
}

function _promptSet(text: ArrayLike<number>, width: number): PromptSetForward {
  const { unit, norms } = normalizeRows(text, width);
  const n = norms.length;
  const mean = new Float64Array(width);
  for (let r = 0; r < n; r++) for (let k = 0; k < width; k++) mean[k] += unit[r * width + k] / n;
  const meanNorm = Math.hypot(...mean);
  return { unit, norms, mean, meanNorm, g: mean.map((v) => v / meanNorm) };
}

/** Backward of u = t/|t| per row then G = normalise(mean u): dL/dt from dL/dG. */
function _promptSetBackward(f: PromptSetForward, gradG: Float64Array, width: number): Float64Array {
  const n = f.norms.length;
  // d normalise(m): (I − g gᵀ)/|m|
  const gDot = dot(f.g, gradG);
  const gradMean = gradG.map((v, k) => (v - f.g[k] * gDot) / f.meanNorm);
  const out = new Float64Array(n * width);
  for (let r = 0; r < n; r++) {
    let uDot = 0;
    for (let k = 0; k < width; k++) uDot += f.unit[r * width + k] * gradMean[k] / n;
    for (let k = 0; k < width; k++) {
      out[r * width + k] = (gradMean[k] / n - f.unit[r * width + k] * uDot) / f.norms[r];
    }
  }
  return out;
}

/** Backward of u = t/|t| per row: dL/dt from dL/du. */
function _unitRowsBackward(
  unit: Float64Array,
  norms: Float64Array,
  gradUnit: Float64Array,
  width: number,
): Float64Array {
  const out = new Float64Array(unit.length);
  for (let r = 0; r < norms.length; r++) {
    let uDot = 0;
    for (let k = 0; k < width; k++) uDot += unit[r * width + k] * gradUnit[r * width + k];
    for (let k = 0; k < width; k++) {
      out[r * width + k] = (gradUnit[r * width + k] - unit[r * width + k] * uDot) / norms[r];
    }
  }
  return out;
}

/** P_n for each unit-norm image feature row: σ(s·x·(g_n − g_a)). */
export function normalProbability(
  images: ArrayLike<number>,
  gNormal: ArrayLike<number>,
  gAnomalous: ArrayLike<number>,
  logitScale: number,
): Float64Array {
  const width = gNormal.length;
  const out = new Float64Array(images.length / width);
  for (let i = 0; i < out.length; i++) {
    let d = 0;
    for (let k = 0; k < width; k++) d += images[i * width + k] * (gNormal[k] - gAnomalous[k]);
    out[i] = sigmoid(logitScale * d);
  }
  return out;
}

/** Evaluates the objective (eq. 3, or eq. 4 when anomalies are given) and its gradient. */
export function conceptLoss(input: ConceptLossInput, w: ConceptLossWeights): ConceptLossResult {
  const e = input.embedDim, s = input.logitScale;
  const normal = _promptSet(input.normalText, e);
  const anomalous = _promptSet(input.anomalousText, e);
  const k = input.normals.length / e;
  const anomalies = input.anomalies ?? new Float64Array(0);
  const j = anomalies.length / e;

  const pNormal = normalProbability(input.normals, normal.g, anomalous.g, s);
  const pAnomaly = normalProbability(anomalies, normal.g, anomalous.g, s);
  const gradDiff = new Float64Array(e); // dL/d(g_n − g_a)
  let loss = 0;
  for (let i = 0; i < k; i++) {
    loss -= (w.alpha * pNormal[i]) / k;
    const dz = (-w.alpha / k) * pNormal[i] * (1 - pNormal[i]) * s;
    for (let c = 0; c < e; c++) gradDiff[c] += dz * input.normals[i * e + c];
  }
  for (let i = 0; i < j; i++) {
    const excess = pAnomaly[i] - w.gamma;
    if (excess <= 0) continue;
    loss += (w.alpha * excess) / j;
    const dz = (w.alpha / j) * pAnomaly[i] * (1 - pAnomaly[i]) * s;
    for (let c = 0; c < e; c++) gradDiff[c] += dz * anomalies[i * e + c];
  }

  let gradPlainText: Float64Array = new Float64Array(input.plainText.length);
  if (w.lambda !== 0 && input.plainText.length) {
    const plain = normalizeRows(input.plainText, e);
    const t = plain.norms.length;
    const meanImage = new Float64Array(e);
    for (let i = 0; i < k; i++) for (let c = 0; c < e; c++) meanImage[c] += input.normals[i * e + c] / k;
    const gradUnit = new Float64Array(plain.unit.length);
    for (let r = 0; r < t; r++) {
      let cos = 0;
      for (let c = 0; c < e; c++) cos += meanImage[c] * plain.unit[r * e + c];
      loss -= (w.lambda * cos) / t;
      for (let c = 0; c < e; c++) gradUnit[r * e + c] = (-w.lambda / t) * meanImage[c];
    }
    gradPlainText = _unitRowsBackward(plain.unit, plain.norms, gradUnit, e);
  }

  return {
    loss,
    gradNormalText: _promptSetBackward(normal, gradDiff, e),
    gradAnomalousText: _promptSetBackward(anomalous, gradDiff.map((v) => -v), e),
    gradPlainText,
    normalProbability: pNormal,
    anomalyProbability: pAnomaly,
  };
}

/** Logistic function, stable for large |x|. */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
