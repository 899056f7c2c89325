/**
 * A Stable Diffusion folder's configuration: where each part lives (the layout `adp models pull`
 * writes and `writeTinyStableDiffusion` copies), the scheduler's `scheduler_config.json` in camelCase,
 * and the few numbers the pipeline needs from `model_index.json` and the VAE's `config.json`.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, ErrorCode, WeightsError } from "../errors.ts";
import type { DiffusionSchedulerConfig } from "./ddim.ts";

export type { DiffusionSchedulerConfig };

/**
 * The folder layout, relative to the model folder: the diffusers repository's `scheduler/`,
 * `tokenizer/` and `text_encoder/` (HF CLIPTextModel safetensors, run through the project's own text
 * graph) beside the ONNX exports of the UNet and the VAE's two halves as Optimum names them.
 */
export const SD_LAYOUT = Object.freeze({
  modelIndex: "model_index.json",
  scheduler: "scheduler/scheduler_config.json",
  tokenizer: "tokenizer",
  textEncoder: "text_encoder",
  unet: "unet/model.onnx",
  vaeEncoder: "vae_encoder/model.onnx",
  vaeDecoder: "vae_decoder/model.onnx",
  /** Optimum copies the VAE's config (with `scaling_factor`) beside each half; SD 2.x's when absent. */
  vaeConfig: "vae_decoder/config.json",
});

/** What the pipeline needs to know about a Stable Diffusion model. */
export interface StableDiffusionConfig {
  /** Latent channels (4). */
  latentChannels: number;
  /** Image side / latent side (8). */
  vaeScaleFactor: number;
  /** 0.18215: latents fed to the UNet = scalingFactor · VAE latent. */
  scalingFactor: number;
  /** Text positions the UNet attends to (77). */
  contextLength: number;
  /** Text width D (1024 for SD 2.1). */
  hiddenSize: number;
  /** The parsed `scheduler/scheduler_config.json`. */
  scheduler: DiffusionSchedulerConfig;
}

/** SD 2.1's scheduler config (stabilityai/stable-diffusion-2-1, `scheduler/scheduler_config.json`). */
export const SD21_SCHEDULER: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: "DDIMScheduler",
  _diffusers_version: "0.8.0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: "v_prediction",
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: "leading",
  trained_betas: null,
});

/** The UNet's external weights file beside `unet/model.onnx`, as Optimum names it. */
export const SD_UNET_DATA = "model.onnx_data";

/** SD 2.x's VAE latent scaling. */
export const SD_SCALING_FACTOR = 0.18215;

/**
 * Parses a `scheduler_config.json` object; absent fields take diffusers' DDIMScheduler defaults.
 *
 * @throws {ConfigError} for a field of the wrong type or an unsupported schedule or prediction type
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedulerConfig, SD21_SCHEDULER } from "./config.ts";
 * const s = parseSchedulerConfig(SD21_SCHEDULER, "scheduler_config.json");
 * assert.equal(s.predictionType, "v_prediction");
 * assert.equal(s.stepsOffset, 1);
 * ```
 */
export function parseSchedulerConfig(json: unknown, source: string): DiffusionSchedulerConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`Invalid scheduler config ${source}: expected a JSON object`);
  }
  const o = json as Record<string, unknown>;
  const field = <T>(key: string, fallback: T, ok: (v: unknown) => boolean, what: string): T => {
    const v = o[key] ?? fallback;
    if (!ok(v)) {
      throw new ConfigError(
        `Invalid scheduler config ${source}: ${key} must be ${what}, got ${JSON.stringify(v)}`,
      );
    }
    return v as T;
  };
  const positive = (v: unknown) => typeof v === "number" && v > 0 && Number.isFinite(v);
  const oneOf = (...values: string[]) => (v: unknown) => values.includes(v as string);
  const bool = (v: unknown) => typeof v === "boolean";
  return {
    className: field("_class_name", "DDIMScheduler", (v) => typeof v === "string", "a string"),
    numTrainTimesteps: field(
      "num_train_timesteps",
      1000,
      (v) => Number.isInteger(v) && positive(v),
      "a positive integer",
    ),
    betaStart: field("beta_start", 0.0001, positive, "a positive number"),
    betaEnd: field("beta_end", 0.02, positive, "a positive number"),
    betaSchedule: field(
      "beta_schedule",
      "linear",
      oneOf("linear", "scaled_linear"),
      "linear or scaled_linear",
    ),
    predictionType: field(
      "prediction_type",
      "epsilon",
      oneOf("epsilon", "v_prediction"),
      "epsilon or v_prediction",
    ),
    stepsOffset: field("steps_offset", 0, (v) => Number.isInteger(v) && (v as number) >= 0, "an integer ≥ 0"),
    setAlphaToOne: field("set_alpha_to_one", true, bool, "a boolean"),
    clipSample: field("clip_sample", true, bool, "a boolean"),
    timestepSpacing: field(
      "timestep_spacing",
      "leading",
      oneOf("leading", "trailing", "linspace"),
      "leading, trailing or linspace",
    ),
  };
}

/**
 * Reads a JSON file of the model folder, with errors that say which part is missing or broken;
 * an `optional` file that is absent reads as undefined.
 */
export async function readModelJson(
  dir: string,
  relative: string,
  opts: { optional?: boolean } = {},
): Promise<unknown> {
  const path = join(dir, relative);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    if (opts.optional && cause instanceof Deno.errors.NotFound) return undefined;
    throw new WeightsError(`Not a Stable Diffusion folder: ${path} cannot be read`, {
      file: path,
      code: ErrorCode.WEIGHTS_MISSING,
      cause,
    });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`Invalid JSON in ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** The VAE's `scaling_factor` from its config object, SD 2.x's when the field is absent. */
export function scalingFactorOf(vaeConfig: unknown, source: string): number {
  const v = (vaeConfig as Record<string, unknown> | null)?.scaling_factor ?? SD_SCALING_FACTOR;
  if (typeof v !== "number" || !(v > 0)) {
    throw new ConfigError(`Invalid VAE config ${source}: scaling_factor must be a positive number`);
  }
  return v;
}
