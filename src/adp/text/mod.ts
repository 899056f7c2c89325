/**
 * The text branch of ADP: prompt sets about an object word (eq. 1), the concept loss and its learning
 * by textual inversion with Adam (eq. 3–4), self-tuning of the candidates into prototypes (eq. 5–6),
 * and the per-frame text score against them (eq. 7).
 *
 * @example The prompts a label word is spoken through
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { promptSets } from "./mod.ts";
 * const sets = promptSets("bottle");
 * ok(sets.normal.includes("a photo of a flawless bottle."));
 * ok(sets.anomalous.includes("a photo of a damaged bottle."));
 * ```
 *
 * @example The text score of a frame that matches the normal prototype
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { textAnomalyScores } from "./mod.ts";
 * const [score] = textAnomalyScores([1, 0], [1, 0], [0, 1], 100);
 * ok(score < 1e-6);
 * ```
 *
 * @module
 */
export { learnConcept } from "./concept_learning.ts";
export type {
  ConceptData,
  ConceptLearningOptions,
  ConceptStep,
  ConceptTextModel,
  LearnedConcept,
} from "./concept_learning.ts";
export { promptSetEmbedding } from "./concept_loss.ts";
export type { ConceptLossWeights } from "./concept_loss.ts";
export { CONCEPT_INIT_WORD, CONCEPT_PLACEHOLDER, promptSets } from "./prompts.ts";
export type { PromptSetOptions, PromptSets } from "./prompts.ts";
export { promptPrototypes } from "./prototypes.ts";
export type { PromptObject, PromptPrototypes, PromptTextModel } from "./prototypes.ts";
export { selfTune } from "./self_tuning.ts";
export type { PromptCandidate, PseudoValidation, SelfTuningResult } from "./self_tuning.ts";
export { textAnomalyScores } from "./text_score.ts";
