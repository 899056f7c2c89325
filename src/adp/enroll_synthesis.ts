/**
 * Which synthesizer an enrollment's pseudo-anomalies come from: `procedural`, `sd` (SDEdit with
 * Stable Diffusion, the paper's way) or `mix` (alternating the two). SD's prompts name the part by
 * its normal-aware concept c_n*: enrollment needs the pseudo-anomalies to learn the anomaly-aware
 * concept c_a*, so c_a* cannot prompt them; c_a* starts from c_n*, and "damaged" in the prompt
 * supplies the anomaly. Where the concept's width is not the SD text encoder's (a ViT-B CLIP beside
 * SD 2.1's ViT-H text tower), the part's label or "object" stands in, with one line saying so.
 *
 * @module
 */
import type { SdeditOptions, StableDiffusion } from "../diffusion/mod.ts";
import {
  batchOf,
  type BatchSynthesizer,
  createProceduralSynthesizer,
  createSdSynthesizer,
  mixSynthesizers,
  type SynthMode,
} from "./synth/mod.ts";
import { CONCEPT_INIT_WORD, CONCEPT_PLACEHOLDER } from "./text/mod.ts";

/**
 * The mode that can run: `sd` and `mix` without a model become `procedural`, with one line to `log`.
 *
 * @param requested the mode asked for
 * @param diffusion the Stable Diffusion model, if the process has one
 * @param log where the fallback line goes
 * @returns the mode enrollment runs
 */
export function resolveSynthMode(
  requested: SynthMode,
  diffusion: StableDiffusion | undefined,
  log: (line: string) => void = (line) => console.error(line),
): SynthMode {
  if (requested === "procedural" || diffusion) return requested;
  log(
    `sd pseudo-anomalies: --synth ${requested} asked for, but no Stable Diffusion model is loaded ` +
      `(adp serve --sd-model DIR): procedural pseudo-anomalies instead`,
  );
  return "procedural";
}

/**
 * The batch synthesizer of an `sd` or `mix` enrollment.
 *
 * @param mode `sd` or `mix`
 * @param opts the model, the normal-aware concept, the part's label, SDEdit's settings, the log
 * @returns the synthesizer, for both the training and the validation set
 */
export function enrollSynthesizer(
  mode: Exclude<SynthMode, "procedural">,
  opts: {
    diffusion: StableDiffusion;
    concept?: Float32Array;
    label?: string;
    sdedit?: Partial<SdeditOptions>;
    log?: (line: string) => void;
  },
): BatchSynthesizer {
  const sd = createSdSynthesizer({
    model: opts.diffusion,
    word: opts.label ?? CONCEPT_INIT_WORD,
    concept: opts.concept && { placeholder: CONCEPT_PLACEHOLDER, vector: opts.concept },
    ...opts.sdedit,
    log: opts.log ?? ((line) => console.error(line)),
  });
  return mode === "sd" ? sd : mixSynthesizers(sd, batchOf(createProceduralSynthesizer()));
}
