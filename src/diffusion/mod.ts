/**
 * Stable Diffusion for the paper's pseudo-anomalies: a model folder (SD 2.1 as ONNX exports beside
 * its diffusers text encoder, or a tiny random one) opened behind {@linkcode StableDiffusion}, whose
 * text conditioning is the project's own text graph so learned concepts are injected as for CLIP
 * scoring; the DDIM scheduler, classifier-free guidance and SDEdit (img2img) build on it.
 *
 * @example A tiny random model: conditioning, one UNet prediction, a VAE round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadStableDiffusion, writeTinyStableDiffusion } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeTinyStableDiffusion(dir, { seed: 1 });
 * const sd = await loadStableDiffusion(dir, { device: "cpu", cacheDir: `${dir}/cache`, log: () => {} });
 * const cond = await sd.conditioning(["a photo of a damaged sks"]);
 * assert.equal(cond.length, 77 * sd.config.hiddenSize);
 * const latents = await sd.encode(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]);
 * const v = await sd.predict(latents, [1, 4, 2, 2], 501, cond);
 * assert.equal(v.length, 16);
 * assert.equal((await sd.decode(latents, [1, 4, 2, 2])).length, 3 * 16 * 16);
 * await sd.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export { parseSchedulerConfig, SD21_SCHEDULER, SD_LAYOUT, SD_SCALING_FACTOR } from "./config.ts";
export type { StableDiffusionConfig } from "./config.ts";
export { addNoise, ddimSchedule, ddimStep, sdeditTimesteps } from "./ddim.ts";
export type { DdimSchedule, DiffusionSchedulerConfig } from "./ddim.ts";
export { classifierFreeGuidance } from "./guidance.ts";
export { sdedit, workingSize } from "./sdedit.ts";
export type { SdeditItem, SdeditOptions } from "./sdedit.ts";
export { loadStableDiffusion } from "./stable_diffusion.ts";
export type { Dims4, LoadStableDiffusionOptions, StableDiffusion } from "./stable_diffusion.ts";
export { writeTinyStableDiffusion } from "./tiny_writer.ts";
export type { TinyStableDiffusion, TinyStableDiffusionOptions } from "./tiny_writer.ts";
export {
  findPretrainedDiffusion,
  listPretrainedDiffusion,
  pullStableDiffusion,
  textEncoderFiles,
} from "./pull.ts";
export type {
  DiffusionSource,
  PretrainedDiffusion,
  PullDiffusionOptions,
  PullDiffusionResult,
} from "./pull.ts";
