/**
 * Learning a concept word by textual inversion: Adam on the placeholder's embedding, the objective
 * of `concept_loss.ts`, gradients through the text transformer from the model's VJP graph.
 *
 * Each step speaks a random subset of the prompt sets (seeded): the full sets are ~100 prompts, and
 * a subset per step gives the same expected gradient for a fraction of the text-tower time.
 *
 * @module
 */
import { Random } from "../../random.ts";
import { Adam } from "./adam.ts";
import { conceptLoss, type ConceptLossWeights } from "./concept_loss.ts";
import type { PromptSets } from "./prompts.ts";

/** What concept learning needs of a CLIP model (ClipModel provides it). */
export interface ConceptTextModel {
  /** The embedding width E. */
  readonly config: { readonly embedDim: number };
  /** exp of the checkpoint's log logit scale. */
  readonly logitScale: number;
  /** Text features [texts, E] with `concept` as the placeholder's token embedding. */
  encodeTextWithConcept(texts: string[], placeholder: string, concept: Float32Array): Promise<Float32Array>;
  /** The gradient of the concept, given the gradient of those text features. */
  conceptVJP(
    texts: string[],
    placeholder: string,
    concept: Float32Array,
    gradFeatures: Float32Array,
  ): Promise<Float32Array>;
}

/** One step's report. */
export interface ConceptStep {
  /** Steps done, from 1. */
  step: number;
  /** Steps in all. */
  steps: number;
  /** The loss at this step. */
  loss: number;
  /** Mean P_n over the normal images at this step. */
  normalProbability: number;
  /** Mean P_n over the pseudo-anomalies (NaN for eq. 3). */
  anomalyProbability: number;
}

/** Settings of one concept's optimisation. */
export interface ConceptLearningOptions {
  /** Adam steps. */
  steps: number;
  /** Adam's learning rate. */
  learningRate: number;
  /** The loss terms' weights α, λ and margin γ. */
  weights: ConceptLossWeights;
  /** Prompts drawn from each of S_n, S_a and T per step. */
  promptsPerStep: number;
  /** The prompt draws follow it. */
  seed: number;
  /** The single-token placeholder word standing for the concept, e.g. "sks". */
  placeholder: string;
  /** The prompt sets spoken with the placeholder. */
  prompts: PromptSets;
  /** Called after each step. */
  onStep?: (s: ConceptStep) => void;
}

/** The training images' features, unit norm. */
export interface ConceptData {
  /** The normal shots' features [K, E]. */
  normals: Float64Array;
  /** Pseudo-anomalies; present for the anomaly-aware concept (eq. 4). */
  anomalies?: Float64Array;
}

/** A learned concept and the loss of every step that led to it. */
export interface LearnedConcept {
  /** The placeholder's learned token embedding [width]. */
  concept: Float32Array;
  /** The loss at each step, in order. */
  losses: number[];
}

/** Runs the optimisation from `init`; returns the learned concept and the loss of every step. */
export async function learnConcept(
  model: ConceptTextModel,
  init: Float32Array,
  data: ConceptData,
  opts: ConceptLearningOptions,
): Promise<LearnedConcept> {
  const random = Random.forStream(opts.seed, "concept-prompts");
  const adam = new Adam(init.length, { learningRate: opts.learningRate });
  const e = model.config.embedDim;
  let concept: Float32Array = Float32Array.from(init);
  const losses: number[] = [];
  const usePlain = opts.weights.lambda !== 0;
  for (let step = 0; step < opts.steps; step++) {
    const draw = (prompts: string[]) =>
      random.sample(prompts.length, Math.min(opts.promptsPerStep, prompts.length)).map((i) => prompts[i]);
    const normal = draw(opts.prompts.normal);
    const anomalous = draw(opts.prompts.anomalous);
    const plain = usePlain ? draw(opts.prompts.plain) : [];
    const texts = [...normal, ...anomalous, ...plain];
    const features = await model.encodeTextWithConcept(texts, opts.placeholder, concept);
    const nN = normal.length * e, nA = anomalous.length * e;
    const result = conceptLoss({
      embedDim: e,
      logitScale: model.logitScale,
      normals: data.normals,
      anomalies: data.anomalies,
      normalText: features.subarray(0, nN),
      anomalousText: features.subarray(nN, nN + nA),
      plainText: features.subarray(nN + nA),
    }, opts.weights);
    const grad = new Float32Array(features.length);
    grad.set(result.gradNormalText, 0);
    grad.set(result.gradAnomalousText, nN);
    grad.set(result.gradPlainText, nN + nA);
    const gradConcept = await model.conceptVJP(texts, opts.placeholder, concept, grad);
    concept = adam.update(concept, gradConcept);
    losses.push(result.loss);
    opts.onStep?.({
      step: step + 1,
      steps: opts.steps,
      loss: result.loss,
      normalProbability: mean(result.normalProbability),
      anomalyProbability: mean(result.anomalyProbability),
    });
  }
  return { concept, losses };
}

function mean(xs: Float64Array): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
