/**
 * SDEdit (img2img) on a batch of images: each image is resized to a size the VAE takes, encoded,
 * noised part-way down the DDIM schedule with its own seeded Gaussian, denoised by the UNet under
 * classifier-free guidance (the unconditioned and the conditioned halves in one UNet run per step),
 * decoded, and resized back to its own size. The tensor work runs in onnxruntime; what runs here is
 * the scheduler's arithmetic on latents (an eighth of the pixels, four channels) and two resizes
 * per image.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { Random } from "../random.ts";
import { resizeBicubic, type Rgb8Image } from "../image/mod.ts";
import { addNoise, ddimSchedule, ddimStep, sdeditTimesteps } from "./ddim.ts";
import { classifierFreeGuidance } from "./guidance.ts";
import type { StableDiffusion } from "./stable_diffusion.ts";

/** How an SDEdit run edits. */
export interface SdeditOptions {
  /** How far into the noise the edit starts, (0, 1]: 0.6 keeps the part's shape and changes its surface. */
  strength: number;
  /** DDIM steps of the whole schedule; ⌊steps·strength⌋ of them run. */
  steps: number;
  /** Classifier-free guidance scale g (1: the prompt alone, no unconditioned run needed in theory). */
  guidance: number;
  /**
   * Longer side, in pixels, the images are edited at (rounded to the VAE's multiple); SD 2.1 was
   * trained at 512–768.
   */
  size: number;
}

/** One image to edit, with the only random source its noise is drawn from. */
export interface SdeditItem {
  image: Rgb8Image;
  random: Random;
  /** Its conditioning: a row of `conditioning` of {@linkcode sdedit} (`[rows, 77, D]`). */
  prompt: number;
}

/**
 * Edits `items` in one batch. Item i's result depends only on its image, its random source's state,
 * its prompt and the options, not on the rest of the batch (up to the UNet's float arithmetic).
 *
 * @param model the diffusion model
 * @param items the images, their random sources and prompt rows (images of one size batch best:
 *   they are all edited at the first image's aspect)
 * @param conditioning `uncond` `[1, L, D]` (the empty prompt) and `cond` `[rows, L, D]`
 * @param opts strength, steps, guidance and working size
 * @param signal checked before each UNet run
 * @returns the edited images, each of its input's size
 * @throws {ConfigError} when ⌊steps·strength⌋ is 0, or options are invalid
 */
export async function sdedit(
  model: StableDiffusion,
  items: readonly SdeditItem[],
  conditioning: { uncond: Float32Array; cond: Float32Array },
  opts: SdeditOptions & { signal?: AbortSignal },
): Promise<Rgb8Image[]> {
  if (!items.length) return [];
  const { config } = model;
  const schedule = ddimSchedule(config.scheduler, opts.steps);
  const timesteps = sdeditTimesteps(schedule, opts.strength);
  if (!timesteps.length) {
    throw new ConfigError(
      `SDEdit runs no step at strength ${opts.strength} of ${opts.steps} steps: raise either`,
    );
  }
  const n = items.length;
  const { width, height } = workingSize(items[0].image, opts.size, config.vaeScaleFactor);
  const pixels = toPixels(items.map((it) => resizeBicubic(it.image, { width, height })));
  const c = config.latentChannels, h = height / config.vaeScaleFactor, w = width / config.vaeScaleFactor;
  opts.signal?.throwIfAborted();
  const encoded = await model.encode(pixels, [n, 3, height, width]);
  const latents = scaled(encoded, config.scalingFactor);
  const noise = new Float32Array(latents.length);
  const per = c * h * w;
  for (const [i, it] of items.entries()) {
    for (let k = 0; k < per; k++) noise[i * per + k] = it.random.normal();
  }
  let sample = addNoise(schedule, { sample: latents, noise, timestep: timesteps[0] });
  const context = guidedContext(conditioning, items, config.contextLength * config.hiddenSize);
  for (const timestep of timesteps) {
    opts.signal?.throwIfAborted();
    const doubled = new Float32Array(sample.length * 2);
    doubled.set(sample);
    doubled.set(sample, sample.length);
    const out = await model.predict(doubled, [2 * n, c, h, w], timestep, context);
    sample = ddimStep(schedule, {
      modelOutput: classifierFreeGuidance(out, opts.guidance),
      timestep,
      sample,
    });
  }
  opts.signal?.throwIfAborted();
  const decoded = await model.decode(scaled(sample, 1 / config.scalingFactor), [n, c, h, w]);
  return items.map((it, i) =>
    resizeBicubic(fromPixels(decoded, i, width, height), { width: it.image.width, height: it.image.height })
  );
}

/** The size an image is edited at: its aspect, the longer side `size`, both sides multiples of `multiple`. */
export function workingSize(
  image: { width: number; height: number },
  size: number,
  multiple: number,
): { width: number; height: number } {
  if (!(Number.isInteger(size) && size >= multiple)) {
    throw new ConfigError(`SDEdit size must be an integer of at least ${multiple}: got ${size}`);
  }
  const scale = size / Math.max(image.width, image.height);
  const side = (v: number) => Math.max(multiple, Math.round((v * scale) / multiple) * multiple);
  return { width: side(image.width), height: side(image.height) };
}

/** `[uncond × n, cond of each item]`: the UNet's batch of 2n conditionings. */
function guidedContext(
  conditioning: { uncond: Float32Array; cond: Float32Array },
  items: readonly SdeditItem[],
  row: number,
): Float32Array {
  const { uncond, cond } = conditioning;
  if (uncond.length !== row || cond.length % row !== 0) {
    throw new ConfigError(
      `SDEdit conditioning must be [1, L, D] and [rows, L, D] with L·D = ${row}: got ${uncond.length} and ${cond.length} values`,
    );
  }
  const n = items.length;
  const out = new Float32Array(2 * n * row);
  for (const [i, it] of items.entries()) {
    if (!(Number.isInteger(it.prompt) && it.prompt >= 0 && (it.prompt + 1) * row <= cond.length)) {
      throw new ConfigError(`SDEdit prompt row ${it.prompt} is not among ${cond.length / row}`);
    }
    out.set(uncond, i * row);
    out.set(cond.subarray(it.prompt * row, (it.prompt + 1) * row), (n + i) * row);
  }
  return out;
}

function scaled(values: Float32Array, factor: number): Float32Array {
  return values.map((v) => v * factor);
}

/** RGB8 images of one size as `[n, 3, H, W]` in [−1, 1]. */
function toPixels(images: readonly Rgb8Image[]): Float32Array {
  const { width, height } = images[0];
  const plane = width * height;
  const out = new Float32Array(images.length * 3 * plane);
  for (const [i, { data }] of images.entries()) {
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++) {
      for (let k = 0; k < 3; k++) out[base + k * plane + p] = data[p * 3 + k] / 127.5 - 1;
    }
  }
  return out;
}

/** Image `i` of `[n, 3, H, W]` in about [−1, 1] as RGB8 (clamped, as diffusers' postprocessing). */
function fromPixels(pixels: Float32Array, i: number, width: number, height: number): Rgb8Image {
  const plane = width * height;
  const base = i * 3 * plane;
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < 3; k++) {
      const v = (pixels[base + k * plane + p] + 1) * 127.5;
      data[p * 3 + k] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { width, height, data };
}
