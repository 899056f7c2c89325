/**
 * Randomly initialised CLIP checkpoints in either layout, for tests and benchmarks of any size
 * (up to ViT-H/14, ~1 G parameters) without downloading anything.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { Random } from "../random.ts";
import { type ArchitectureName, getArchitecture } from "./architectures.ts";
import { INIT_LOGIT_SCALE, writeCheckpoint, type WrittenCheckpoint } from "./checkpoint_writer.ts";
import type { ClipConfig } from "./config.ts";
import type { CheckpointLayout, LayoutTensor } from "./checkpoint_layout.ts";
import { validateClipConfig } from "./config_parse.ts";
import type { FloatDtype } from "./safetensors.ts";

/** Options of {@linkcode writeRandomCheckpoint}. */
export interface RandomCheckpointOptions {
  /** A registered architecture name, or a config. */
  arch: ArchitectureName | ClipConfig;
  /** How the tensors are named, and which config schema is written. */
  layout: CheckpointLayout;
  /** The stored float type. @default "F16" */
  dtype?: FloatDtype;
  /** Seed of the values. @default 0 */
  seed?: number;
  /** Only the text tower, as a Hugging Face CLIPTextModel (see {@linkcode writeCheckpoint}). @default false */
  textOnly?: boolean;
}

/** What {@linkcode writeRandomCheckpoint} wrote. */
export type RandomCheckpoint = WrittenCheckpoint;

/**
 * Writes a randomly initialised checkpoint and its config file into `dir` (created if needed).
 * Values depend only on the seed and each tensor's canonical role, not on the layout, so the same
 * seed gives the same canonical weights in both layouts (up to dtype rounding). Scales follow
 * CLIP's initialisation (attention and projections ~ width^-0.5, token embedding 0.02, positional
 * 0.01, LayerNorm weights near 1, small non-zero biases). Tensors are generated and written one at
 * a time. No tokenizer is copied.
 *
 * @param dir the target folder
 * @param opts architecture, layout, dtype and seed
 * @returns the files written and the config
 * @throws {ConfigError} for an unknown architecture or a config the layout cannot express
 *
 * @example
 * ```ts
 * import { writeRandomCheckpoint } from "./random_checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * const ckpt = await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip", seed: 7 });
 * if (!ckpt.weightsFile.endsWith("open_clip_model.safetensors")) throw new Error("Unexpected file");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeRandomCheckpoint(
  dir: string,
  opts: RandomCheckpointOptions,
): Promise<RandomCheckpoint> {
  const config = validateClipConfig(typeof opts.arch === "string" ? getArchitecture(opts.arch) : opts.arch);
  const layout = opts.layout;
  if (layout !== "openclip" && layout !== "hf") {
    throw new ConfigError(`Unknown checkpoint layout: ${JSON.stringify(layout)}`);
  }
  const dtype = opts.dtype ?? "F16";
  const seed = opts.seed ?? 0;
  // Keeps the canonical tensor whose parts (q, k, v) are being written, and nothing else.
  let cached: { key: string; data: Float32Array } | undefined;
  return await writeCheckpoint(dir, {
    config,
    layout,
    dtype,
    textOnly: opts.textOnly,
    canonical: (t) => {
      if (cached?.key !== t.key) cached = { key: t.key, data: _initTensor(t, config, seed) };
      return cached.data;
    },
  });
}

/** Mean and standard deviation of one canonical tensor's initial values. */
function _initScale(key: string, config: ClipConfig): { mean: number; std: number } {
  const tower = key.startsWith("vision.") ? config.vision : config.text;
  const last = key.slice(key.lastIndexOf(".") + 1);
  const width = tower.width;
  const residualStd = width ** -0.5 * (2 * tower.layers) ** -0.5;
  if (key === "vision.patchEmbed") return { mean: 0, std: (3 * config.vision.patchSize ** 2) ** -0.5 };
  if (key === "vision.classEmbed") return { mean: 0, std: width ** -0.5 };
  if (key === "vision.posEmbed" || key === "text.posEmbed") return { mean: 0, std: 0.01 };
  if (key === "text.tokenEmbed") return { mean: 0, std: 0.02 };
  if (key === "vision.proj" || key === "text.proj") return { mean: 0, std: width ** -0.5 };
  if (key.endsWith("ln1.weight") || key.endsWith("ln2.weight") || /ln(Pre|Post|Final)\.weight$/.test(key)) {
    return { mean: 1, std: 0.02 };
  }
  switch (last) {
    case "qkvWeight":
      return { mean: 0, std: width ** -0.5 };
    case "outWeight":
    case "projWeight":
      return { mean: 0, std: residualStd };
    case "fcWeight":
      return { mean: 0, std: (2 * width) ** -0.5 };
    default:
      // Biases and LayerNorm shifts: small but non-zero, so that a dropped bias shows.
      return { mean: 0, std: 0.01 };
  }
}

function _initTensor(t: LayoutTensor, config: ClipConfig, seed: number): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.key === "logitScale") return new Float32Array([INIT_LOGIT_SCALE]);
  const { mean, std } = _initScale(t.key, config);
  const random = Random.forStream(seed, t.key);
  // Uniform with the target standard deviation: one generator call per value, which keeps a
  // ViT-H/14 checkpoint to seconds rather than minutes.
  const half = std * Math.sqrt(3);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + (2 * random.next() - 1) * half;
  return out;
}
