/**
 * What SDEdit needs of a Stable Diffusion model (placeholder until the models side lands: its
 * loader implements this interface).
 *
 * @module
 */
import type { DiffusionSchedulerConfig } from "./ddim.ts";

/** A loaded Stable Diffusion: text conditioning, UNet and VAE. */
export interface StableDiffusion {
  readonly config: {
    latentChannels: number;
    vaeScaleFactor: number;
    scalingFactor: number;
    contextLength: number;
    hiddenSize: number;
    scheduler: DiffusionSchedulerConfig;
  };
  conditioning(
    prompts: string[],
    personalise?: { placeholder: string; concept: Float32Array },
  ): Promise<Float32Array>;
  predict(
    latents: Float32Array,
    dims: readonly number[],
    timestep: number,
    conditioning: Float32Array,
  ): Promise<Float32Array>;
  encode(pixels: Float32Array, dims: readonly number[]): Promise<Float32Array>;
  decode(latents: Float32Array, dims: readonly number[]): Promise<Float32Array>;
  release(): Promise<void>;
}
