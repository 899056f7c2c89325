/**
 * The DDIM scheduler as diffusers' `DDIMScheduler` runs it for Stable Diffusion 2.1 (deterministic,
 * eta = 0): the noise schedule, the inference timesteps, one denoising step for ε- or v-prediction,
 * the forward noising, and SDEdit's start part-way down the schedule. Pure functions over typed
 * arrays; the schedule is computed in float64 (diffusers uses float32: the two differ by under
 * 1e-6 relative in ᾱ, far below what a UNet's output carries).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/**
 * A diffusers `scheduler_config.json`, camelCased (parsed by `parseSchedulerConfig`): what the
 * schedule is made from.
 */
export interface DiffusionSchedulerConfig {
  /** The diffusers class named in the file, e.g. `DDIMScheduler`. */
  className: string;
  /** Training timesteps T. */
  numTrainTimesteps: number;
  /** β at t = 0. */
  betaStart: number;
  /** β at t = T − 1. */
  betaEnd: number;
  /** `scaled_linear`: β = linspace(√β₀, √β₁, T)² (Stable Diffusion); `linear`: linspace(β₀, β₁, T). */
  betaSchedule: "scaled_linear" | "linear";
  /** What the UNet predicts: the noise ε, or v = √ᾱ·ε − √(1−ᾱ)·x₀ (SD 2.1; SD 2.1-base predicts ε). */
  predictionType: "epsilon" | "v_prediction";
  /** Added to every inference timestep under `leading` spacing (SD: 1). */
  stepsOffset: number;
  /** Whether the step past t = 0 lands on ᾱ = 1 (true) or on ᾱ₀ (SD: false). */
  setAlphaToOne: boolean;
  /** Whether the predicted x₀ is clamped to [−1, 1] (SD: false). */
  clipSample: boolean;
  /** How inference timesteps are spread over [0, T): diffusers' `leading` (SD default), `linspace`, `trailing`. */
  timestepSpacing: "leading" | "linspace" | "trailing";
}

/** A schedule ready for inference with a number of steps. */
export interface DdimSchedule {
  readonly config: Readonly<DiffusionSchedulerConfig>;
  /** ᾱ_t for t in [0, T). */
  readonly alphasCumprod: Float64Array;
  /** ᾱ of the step past the last timestep. */
  readonly finalAlphaCumprod: number;
  /** Inference timesteps, descending. */
  readonly timesteps: readonly number[];
  /** T // steps: how far back one step goes (diffusers' `prev_timestep`). */
  readonly stepRatio: number;
}

/**
 * The schedule of `config` with `steps` inference steps (diffusers' `__init__` plus `set_timesteps`).
 *
 * @param config the scheduler's configuration
 * @param steps inference steps, 1 to T
 * @returns ᾱ, the final ᾱ and the descending timesteps
 * @throws {ConfigError} when `steps` is out of range
 *
 * @example SD 2.1 with 10 steps
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseSchedulerConfig, SD21_SCHEDULER } from "./config.ts";
 * const s = ddimSchedule(parseSchedulerConfig(SD21_SCHEDULER, "sd21"), 10);
 * deepStrictEqual(s.timesteps, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
 * ```
 */
export function ddimSchedule(config: Readonly<DiffusionSchedulerConfig>, steps: number): DdimSchedule {
  const T = config.numTrainTimesteps;
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= T)) {
    throw new ConfigError(`DDIM steps must be an integer from 1 to ${T}: got ${steps}`);
  }
  const alphasCumprod = new Float64Array(T);
  let product = 1;
  for (let t = 0; t < T; t++) {
    const f = T === 1 ? 0 : t / (T - 1);
    const beta = config.betaSchedule === "scaled_linear"
      ? (Math.sqrt(config.betaStart) + f * (Math.sqrt(config.betaEnd) - Math.sqrt(config.betaStart))) ** 2
      : config.betaStart + f * (config.betaEnd - config.betaStart);
    product *= 1 - beta;
    alphasCumprod[t] = product;
  }
  const stepRatio = Math.floor(T / steps);
  return {
    config,
    alphasCumprod,
    finalAlphaCumprod: config.setAlphaToOne ? 1 : alphasCumprod[0],
    timesteps: inferenceTimesteps(config, steps),
    stepRatio,
  };
}

function inferenceTimesteps(config: Readonly<DiffusionSchedulerConfig>, steps: number): number[] {
  const T = config.numTrainTimesteps;
  const ascending: number[] = [];
  if (config.timestepSpacing === "leading") {
    const ratio = Math.floor(T / steps);
    for (let i = 0; i < steps; i++) ascending.push(i * ratio + config.stepsOffset);
  } else if (config.timestepSpacing === "linspace") {
    for (let i = 0; i < steps; i++) {
      ascending.push(roundHalfEven(steps === 1 ? 0 : (i * (T - 1)) / (steps - 1)));
    }
  } else {
    // diffusers: round(arange(T, 0, −T/steps)) − 1, already descending.
    for (let i = 0; i < steps; i++) ascending.unshift(roundHalfEven(T - (i * T) / steps) - 1);
  }
  return ascending.reverse();
}

/** numpy's round: halves to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * SDEdit's timesteps for `strength` s: the last ⌊N·s⌋ of the N inference timesteps (diffusers'
 * img2img `get_timesteps`); the image is noised to the first of them.
 *
 * @param schedule the inference schedule
 * @param strength how far into the noise the edit starts, (0, 1]
 * @returns the timesteps to denoise through, descending (empty when ⌊N·s⌋ = 0)
 * @throws {ConfigError} when `strength` is outside (0, 1]
 *
 * @example Strength 0.6 of 10 steps
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseSchedulerConfig, SD21_SCHEDULER } from "./config.ts";
 * import { ddimSchedule } from "./ddim.ts";
 * const sd21 = parseSchedulerConfig(SD21_SCHEDULER, "sd21");
 * deepStrictEqual(sdeditTimesteps(ddimSchedule(sd21, 10), 0.6), [501, 401, 301, 201, 101, 1]);
 * ```
 */
export function sdeditTimesteps(schedule: DdimSchedule, strength: number): number[] {
  if (!(strength > 0 && strength <= 1)) {
    throw new ConfigError(`SDEdit strength must be in (0, 1]: got ${strength}`);
  }
  const n = schedule.timesteps.length;
  const init = Math.min(Math.floor(n * strength), n);
  return schedule.timesteps.slice(n - init);
}

/**
 * The forward process at timestep t: √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (diffusers' `add_noise`).
 *
 * @param schedule the schedule
 * @param opts the clean sample, the noise (same length) and the timestep
 * @returns a new array, the noised sample
 */
export function addNoise(
  schedule: DdimSchedule,
  opts: { sample: Float32Array; noise: Float32Array; timestep: number },
): Float32Array {
  const { sample, noise } = opts;
  checkSameLength(sample, noise, "noise");
  const a = alphaAt(schedule, opts.timestep);
  const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = sa * sample[i] + sb * noise[i];
  return out;
}

/**
 * One deterministic DDIM step (eta = 0) from timestep t to t − T/N: the model output turned into a
 * predicted x₀ and ε (for v: x₀ = √ᾱ·x − √(1−ᾱ)·v, ε = √ᾱ·v + √(1−ᾱ)·x), then
 * x_prev = √ᾱ_prev·x₀ + √(1−ᾱ_prev)·ε.
 *
 * @param schedule the inference schedule
 * @param opts the UNet's output, the timestep, and the current sample (same length)
 * @returns a new array, the sample at the previous timestep
 *
 * @example A step that keeps x when the model output is the sample's own noise
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { parseSchedulerConfig, SD21_SCHEDULER } from "./config.ts";
 * import { ddimSchedule } from "./ddim.ts";
 * const sd21 = parseSchedulerConfig(SD21_SCHEDULER, "sd21");
 * const s = ddimSchedule({ ...sd21, predictionType: "epsilon" }, 10);
 * const x = ddimStep(s, { modelOutput: new Float32Array([0]), timestep: 901, sample: new Float32Array([0.5]) });
 * ok(x[0] > 0.5); // ε = 0: the sample is all signal, rescaled to the less noisy timestep
 * ```
 */
export function ddimStep(
  schedule: DdimSchedule,
  opts: { modelOutput: Float32Array; timestep: number; sample: Float32Array },
): Float32Array {
  const { modelOutput, sample, timestep } = opts;
  checkSameLength(sample, modelOutput, "model output");
  const { config } = schedule;
  const a = alphaAt(schedule, timestep);
  const previous = timestep - schedule.stepRatio;
  const aPrev = previous >= 0 ? schedule.alphasCumprod[previous] : schedule.finalAlphaCumprod;
  const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
  const saPrev = Math.sqrt(aPrev), sbPrev = Math.sqrt(1 - aPrev);
  const v = config.predictionType === "v_prediction";
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) {
    const x = sample[i], m = modelOutput[i];
    let x0 = v ? sa * x - sb * m : (x - sb * m) / sa;
    if (config.clipSample) x0 = Math.min(1, Math.max(-1, x0));
    // diffusers keeps ε from the raw prediction even when x₀ is clipped (use_clipped_model_output off).
    const eps = v ? sa * m + sb * x : m;
    out[i] = saPrev * x0 + sbPrev * eps;
  }
  return out;
}

function alphaAt(schedule: DdimSchedule, timestep: number): number {
  const a = schedule.alphasCumprod[timestep];
  if (!Number.isInteger(timestep) || a === undefined) {
    throw new ConfigError(
      `Timestep must be an integer from 0 to ${schedule.alphasCumprod.length - 1}: got ${timestep}`,
    );
  }
  return a;
}

function checkSameLength(sample: Float32Array, other: Float32Array, what: string): void {
  if (sample.length !== other.length) {
    throw new ConfigError(`The ${what} must have the sample's ${sample.length} values: got ${other.length}`);
  }
}
