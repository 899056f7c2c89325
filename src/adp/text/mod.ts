/**
 * TODO-DOC adp/text
 *
 * @module
 */
export { learnConcept } from "./concept_learning.ts";
export { promptSetEmbedding } from "./concept_loss.ts";
export { CONCEPT_INIT_WORD, CONCEPT_PLACEHOLDER, promptSets } from "./prompts.ts";
export { selfTune, textAnomalyScores } from "./self_tuning.ts";
export type { PromptCandidate } from "./self_tuning.ts";
