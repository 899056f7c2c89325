/**
 * Stable Diffusion for pseudo-anomalies: the DDIM scheduler, classifier-free guidance and SDEdit
 * (img2img) over a model's text conditioning, UNet and VAE.
 *
 * @example Ten DDIM steps of SD 2.1, SDEdit at strength 0.6
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { ddimSchedule, SD21_SCHEDULER, sdeditTimesteps } from "./mod.ts";
 * deepStrictEqual(sdeditTimesteps(ddimSchedule(SD21_SCHEDULER, 10), 0.6), [501, 401, 301, 201, 101, 1]);
 * ```
 *
 * @module
 */
export { addNoise, ddimSchedule, ddimStep, SD21_SCHEDULER, sdeditTimesteps } from "./ddim.ts";
export type { DdimSchedule, DiffusionSchedulerConfig } from "./ddim.ts";
export { classifierFreeGuidance } from "./guidance.ts";
export { sdedit, workingSize } from "./sdedit.ts";
export type { SdeditItem, SdeditOptions } from "./sdedit.ts";
export type { StableDiffusion } from "./stable_diffusion.ts";
