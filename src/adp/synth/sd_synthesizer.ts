/**
 * The paper's pseudo-anomalies: SDEdit of a normal image with Stable Diffusion, prompted "a photo of
 * a damaged [c]" / "a photo of a [c] with damage", where [c] is the part's learned concept injected
 * into the text encoder (or the class word when the concept cannot be). The edit is kept only on the
 * part (the foreground estimate blends edited and original), and the mask is where the kept edit
 * changed the image materially.
 *
 * @module
 */
import { type Rgb8Image } from "../../image/mod.ts";
import {
  loadStableDiffusion,
  type LoadStableDiffusionOptions,
  sdedit,
  type SdeditOptions,
  type StableDiffusion,
} from "../../diffusion/mod.ts";
import type { BatchSynthesizer, PseudoAnomaly, SynthesisItem } from "./pseudo_anomaly.ts";
import { estimateForeground } from "./foreground.ts";

/** The prompts, `{}` standing for the part: alternated over the pseudo-anomalies by index. */
export const SD_ANOMALY_PROMPTS = ["a photo of a damaged {}", "a photo of a {} with damage"] as const;

/**
 * A pixel counts as changed (is in the mask) when its mean absolute channel change, after the
 * foreground blend, is at least this many levels of 255: an eighth of the range. The VAE's round
 * trip alone moves fine texture by a few levels; an edit the prompt asked for moves it by tens.
 */
export const SD_MASK_LEVEL = 32;

/** SDEdit's defaults: SD-typical strength, steps and guidance at SD 2.1's native 512 px. */
export const SD_DEFAULTS: Readonly<SdeditOptions & { batchSize: number }> = Object.freeze({
  strength: 0.6,
  steps: 25,
  guidance: 7.5,
  size: 512,
  batchSize: 4,
});

/** Options for {@linkcode createSdSynthesizer}. */
export interface SdSynthesizerOptions extends Partial<SdeditOptions> {
  /** The loaded model (the caller releases it). */
  model: StableDiffusion;
  /**
   * The part's learned concept and the placeholder word the prompts carry for it; used only when
   * its width is the model's text width.
   */
  concept?: { placeholder: string; vector: Float32Array };
  /** The part's word when there is no usable concept ("bottle"; "object" when unnamed). */
  word: string;
  /**
   * Images per batch (doubled in the UNet by guidance).
   * @default {SD_DEFAULTS.batchSize}
   */
  batchSize?: number;
  /** Receives the one line that says why the concept is not used. */
  log?: (line: string) => void;
}

/**
 * Creates the Stable Diffusion synthesizer. The prompts' conditioning is computed once, on the
 * first batch.
 *
 * @param opts the model, the concept or word, SDEdit's settings
 * @returns a {@linkcode BatchSynthesizer} named `sd`, making pseudo-anomalies of kind `sd`
 */
export function createSdSynthesizer(opts: SdSynthesizerOptions): BatchSynthesizer {
  const settings: SdeditOptions = {
    strength: opts.strength ?? SD_DEFAULTS.strength,
    steps: opts.steps ?? SD_DEFAULTS.steps,
    guidance: opts.guidance ?? SD_DEFAULTS.guidance,
    size: opts.size ?? SD_DEFAULTS.size,
  };
  let conditioning: Promise<{ uncond: Float32Array; cond: Float32Array }> | undefined;
  return {
    name: "sd",
    batchSize: opts.batchSize ?? SD_DEFAULTS.batchSize,
    async synthesizeBatch(items: readonly SynthesisItem[], signal?: AbortSignal) {
      if (!items.length) return [];
      conditioning ??= promptConditioning(opts);
      const edited = await sdedit(
        opts.model,
        items.map((it) => ({
          image: it.normal,
          random: it.random,
          prompt: it.index % SD_ANOMALY_PROMPTS.length,
        })),
        await conditioning,
        { ...settings, signal },
      );
      const out: PseudoAnomaly[] = [];
      for (const [i, it] of items.entries()) {
        out.push(keepOnPart(it.normal, edited[i]));
        // A turn for the event loop between images: a service scores frames on this thread.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return out;
    },
  };
}

async function promptConditioning(
  opts: SdSynthesizerOptions,
): Promise<{ uncond: Float32Array; cond: Float32Array }> {
  const { model, concept } = opts;
  const width = model.config.hiddenSize;
  const usable = concept && concept.vector.length === width;
  if (concept && !usable) {
    opts.log?.(
      `sd pseudo-anomalies: the learned concept is ${concept.vector.length} wide and the diffusion ` +
        `model's text encoder ${width}: prompting with the word "${opts.word}" instead`,
    );
  }
  const subject = usable ? concept.placeholder : opts.word;
  const prompts = SD_ANOMALY_PROMPTS.map((p) => p.replace("{}", subject));
  return {
    uncond: await model.conditioning([""]),
    cond: await model.conditioning(
      prompts,
      usable ? { placeholder: concept.placeholder, concept: concept.vector } : undefined,
    ),
  };
}

/**
 * The edit blended into the original by the foreground weight (the whole image when no part is told
 * from its backdrop), and its mask by {@linkcode SD_MASK_LEVEL}.
 */
function keepOnPart(normal: Rgb8Image, edited: Rgb8Image): PseudoAnomaly {
  const foreground = estimateForeground(normal);
  const { width, height } = normal;
  const data = new Uint8Array(normal.data.length);
  const mask = new Uint8Array(width * height);
  for (let p = 0; p < width * height; p++) {
    const weight = foreground ? foreground[p] / 255 : 1;
    let change = 0;
    for (let k = 0; k < 3; k++) {
      const i = p * 3 + k;
      const kept = Math.round(normal.data[i] + weight * (edited.data[i] - normal.data[i]));
      data[i] = kept;
      change += Math.abs(kept - normal.data[i]);
    }
    if (change / 3 >= SD_MASK_LEVEL) mask[p] = 255;
  }
  return { image: { width, height, data }, mask, kind: "sd" };
}

/**
 * Opens the Stable Diffusion folder `dir`, or says in exactly one line why it cannot and that the
 * procedural synthesizer stands in (the loader's own lines are passed on only when it opens).
 *
 * @param dir the model folder (`adp models pull` or `adp models tiny --arch sd-tiny`)
 * @param opts the loader's options; `log` gets the provider lines or the one fallback line
 * @returns the model, or undefined when the folder is missing or broken
 */
export async function openStableDiffusionOrFallBack(
  dir: string,
  opts: LoadStableDiffusionOptions & { log: (line: string) => void },
): Promise<StableDiffusion | undefined> {
  const lines: string[] = [];
  try {
    const model = await loadStableDiffusion(dir, { ...opts, log: (line) => lines.push(line) });
    for (const line of lines) opts.log(line);
    return model;
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    opts.log(
      `sd pseudo-anomalies: no usable Stable Diffusion in ${dir} (${why}): procedural pseudo-anomalies instead`,
    );
    return undefined;
  }
}
