/**
 * The numeric precision a CLIP vision graph is built in. `fp32` is the reference. `int8` quantises
 * the weights of every linear layer per output channel when the graph is built and the activations
 * per tensor at run time (onnxruntime's integer kernels: AVX-512 VNNI, AVX2, NEON); `fp16` stores
 * weights and runs the matrix products in float16, for GPUs (onnxruntime's CPU provider has few
 * float16 kernels and converts around the rest: correct, not fast). In both, layer norm, softmax and
 * the residual stream stay float32, and so do the text graph and the text VJP graph that
 * enrollment steps the concept with.
 *
 * @module
 */
import type { Device } from "../onnx/mod.ts";
import { ConfigError } from "../errors.ts";

/** A vision graph's precision. */
export type Precision = "fp32" | "fp16" | "int8";

/** Every precision, for option validation. */
export const PRECISIONS: readonly Precision[] = ["fp32", "fp16", "int8"];

/**
 * The precision used when none is asked for: float32 on every device. int8 is opt-in on the CPU
 * (≈ 3× float32's throughput at batch 8 there): its image features keep a cosine of 0.9997 or more
 * to float32's on the oracle models and on a random ViT-B/16, but no pretrained CLIP could be
 * measured here, and trained transformers carry activation outliers that per-tensor activation
 * quantisation is sensitive to. fp16 is opt-in for GPUs.
 *
 * @param _device the device the graph will run on
 * @returns the default precision for it
 */
export function defaultPrecision(_device: Device): Precision {
  return "fp32";
}

/**
 * Checks a precision named by a user (a CLI flag, a config file).
 *
 * @param value the name
 * @returns it, typed
 * @throws {ConfigError} when it names no precision
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePrecision } from "./precision.ts";
 *
 * assert.equal(parsePrecision("int8"), "int8");
 * assert.throws(() => parsePrecision("int4"));
 * ```
 */
export function parsePrecision(value: string): Precision {
  if (!(PRECISIONS as readonly string[]).includes(value)) {
    throw new ConfigError(`Unknown precision ${value}: use one of ${PRECISIONS.join(", ")}`);
  }
  return value as Precision;
}
