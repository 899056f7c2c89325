/**
 * ADP's prompt sets. A state phrase puts a state word beside the object word ("flawless [c]",
 * "[c] with defect"); each phrase is spoken through every template ("a photo of a {}."), and a
 * prompt set's text embedding G(S) is the average over all of them (eq. 1 of the paper).
 *
 * State words and templates follow the compositional prompt ensemble that WinCLIP introduced and
 * ADP reuses.
 *
 * @module
 */

/**
 * The word whose token a learned concept replaces: only its position matters (its embedding is
 * swapped for the concept), but it must be one token.
 */
export const CONCEPT_PLACEHOLDER = "sks";
/** The word whose embedding a concept starts from (eq. 3's initialisation). */
export const CONCEPT_INIT_WORD = "object";

/** Normal-state phrases; `{}` is the object (a learned concept, or a label word). */
export const NORMAL_STATES: readonly string[] = [
  "{}",
  "flawless {}",
  "perfect {}",
  "unblemished {}",
  "{} without flaw",
  "{} without defect",
  "{} without damage",
];

/** Anomalous-state phrases. */
export const ANOMALOUS_STATES: readonly string[] = [
  "damaged {}",
  "broken {}",
  "{} with flaw",
  "{} with defect",
  "{} with damage",
];

/** Sentence templates a state phrase is spoken through. */
export const TEMPLATES: readonly string[] = [
  "a photo of a {}.",
  "a cropped photo of the {}.",
  "a close-up photo of a {}.",
  "a bright photo of a {}.",
  "a dark photo of the {}.",
  "a photo of the {} for visual inspection.",
  "a photo of a {} for anomaly detection.",
  "a blurry photo of the {}.",
];

/** The prompts of one concept or label: the normal set S_n, the anomalous set S_a, the plain set T. */
export interface PromptSets {
  /** S_n: every normal-state phrase through every template. */
  normal: string[];
  /** S_a: every anomalous-state phrase through every template. */
  anomalous: string[];
  /** Templates around the bare object word: textual inversion's alignment term uses these. */
  plain: string[];
}

/** Options of {@linkcode promptSets}. */
export interface PromptSetOptions {
  /** Normal-state phrases. @default NORMAL_STATES */
  normalStates?: readonly string[];
  /** Anomalous-state phrases. @default ANOMALOUS_STATES */
  anomalousStates?: readonly string[];
  /** Sentence templates. @default TEMPLATES */
  templates?: readonly string[];
}

/** Every prompt for `word` (a placeholder such as "sks", or a label such as "bottle"). */
export function promptSets(word: string, opts: PromptSetOptions = {}): PromptSets {
  const templates = opts.templates ?? TEMPLATES;
  const speak = (states: readonly string[]) =>
    states.flatMap((state) => templates.map((t) => t.replace("{}", state.replace("{}", word))));
  return {
    normal: speak(opts.normalStates ?? NORMAL_STATES),
    anomalous: speak(opts.anomalousStates ?? ANOMALOUS_STATES),
    plain: templates.map((t) => t.replace("{}", word)),
  };
}
