/**
 * A candidate's prompt prototypes: G(S_n) and G(S_a) of the prompt sets spoken about one object — a
 * learned concept at the placeholder, or a label word — which self-tuning weighs and averages into
 * the station's prototypes, and which the evaluation's concept ablations score with on their own.
 *
 * @module
 */
import { promptSetEmbedding } from "./concept_loss.ts";
import { CONCEPT_PLACEHOLDER, promptSets } from "./prompts.ts";

/** What speaking prompt sets needs of a CLIP model (ClipModel provides it). */
export interface PromptTextModel {
  /** The embedding width E. */
  readonly config: { readonly embedDim: number };
  /** Text features [texts, E] of plain prompts. */
  encodeText(texts: string[]): Promise<Float32Array>;
  /** Text features [texts, E] with `concept` as the placeholder's token embedding. */
  encodeTextWithConcept(texts: string[], placeholder: string, concept: Float32Array): Promise<Float32Array>;
}

/** The object the prompts speak of: a learned concept (at the placeholder) or a label word. */
export type PromptObject = { concept: Float32Array } | { word: string };

/** A prompt pair's embeddings G(S_n), G(S_a), unit norm. */
export interface PromptPrototypes {
  /** G(S_n) [E]. */
  normal: Float64Array;
  /** G(S_a) [E]. */
  anomalous: Float64Array;
}

/**
 * G(S_n) and G(S_a) of the prompt sets about `object`: the normal set encoded first, then the
 * anomalous one.
 *
 * @param clip the model that speaks the prompts
 * @param object a learned concept, spoken at {@linkcode CONCEPT_PLACEHOLDER}, or a label word
 * @returns the unit-norm normal and anomalous prompt-set embeddings
 */
export async function promptPrototypes(
  clip: PromptTextModel,
  object: PromptObject,
): Promise<PromptPrototypes> {
  const e = clip.config.embedDim;
  if ("concept" in object) {
    const sets = promptSets(CONCEPT_PLACEHOLDER);
    const encode = (texts: string[]) =>
      clip.encodeTextWithConcept(texts, CONCEPT_PLACEHOLDER, object.concept);
    return {
      normal: promptSetEmbedding(await encode(sets.normal), e),
      anomalous: promptSetEmbedding(await encode(sets.anomalous), e),
    };
  }
  const sets = promptSets(object.word);
  return {
    normal: promptSetEmbedding(await clip.encodeText(sets.normal), e),
    anomalous: promptSetEmbedding(await clip.encodeText(sets.anomalous), e),
  };
}
