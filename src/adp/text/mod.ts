/**
 * TODO-DOC adp/text
 *
 * @module
 */
export { learnConcept } from "./concept_learning.ts";
export type { LearnedConcept } from "./concept_learning.ts";
export { promptSetEmbedding } from "./concept_loss.ts";
export { CONCEPT_INIT_WORD, CONCEPT_PLACEHOLDER, promptSets } from "./prompts.ts";
export { promptPrototypes } from "./prototypes.ts";
export type { PromptObject, PromptPrototypes, PromptTextModel } from "./prototypes.ts";
export { selfTune } from "./self_tuning.ts";
export type { PromptCandidate, SelfTuningResult } from "./self_tuning.ts";
export { textAnomalyScores } from "./text_score.ts";
