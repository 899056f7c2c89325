/**
 * Classifier-free guidance: the UNet runs on a batch whose first half is conditioned on the empty
 * prompt and whose second half on the real one; the guided prediction extrapolates from the first
 * towards the second, uncond + g·(cond − uncond). g = 1 is the conditioned prediction alone, g > 1
 * pushes the edit harder towards the prompt (SD's usual 7.5).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/**
 * Guides a batched prediction `[uncond…, cond…]` (two halves of equal length).
 *
 * @param batched the UNet output for the unconditioned then the conditioned inputs
 * @param scale the guidance scale g
 * @returns a new array of half the length: uncond + g·(cond − uncond)
 * @throws {ConfigError} when the length is odd
 *
 * @example Scale 3 on one value
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual([...classifierFreeGuidance(new Float32Array([1, 2]), 3)], [4]);
 * ```
 */
export function classifierFreeGuidance(batched: Float32Array, scale: number): Float32Array {
  if (batched.length % 2 !== 0) {
    throw new ConfigError(
      `Guidance needs an unconditioned and a conditioned half: got ${batched.length} values`,
    );
  }
  const half = batched.length / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const uncond = batched[i];
    out[i] = uncond + scale * (batched[half + i] - uncond);
  }
  return out;
}
