/**
 * A CLIP config derived from tensor shapes alone, for a weights file that comes without its config.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { getArchitecture, listArchitectures } from "./architectures.ts";
import { type CheckpointLayout, LAYOUT_NAMES } from "./checkpoint_layout.ts";
import { type Activation, CLIP_MEAN, CLIP_STD, type ClipConfig } from "./config.ts";
import { DEFAULT_LN_EPS, validateClipConfig } from "./config_parse.ts";

/** Options of {@linkcode inferClipConfig}. */
export interface InferClipConfigOptions {
  /** The activation, when the caller knows it; otherwise QuickGELU is assumed with a warning. */
  activation?: Activation;
}

/** An inferred config and what had to be guessed. */
export interface InferredClipConfig {
  /** The config. */
  config: ClipConfig;
  /** One sentence per guess (activation, attention heads). */
  warnings: string[];
}

/** OpenAI's towers use 64-wide attention heads; used only when nothing better is known. */
const DEFAULT_HEAD_WIDTH = 64;

/**
 * Derives the architecture from tensor shapes alone, for a weights file without its config. Sizes
 * are exact: blocks are counted, widths come from LayerNorms and embeddings, the patch from the
 * convolution kernel, the image size from the positional embedding count. Two things are not in
 * the weights and are guessed, each with a warning: attention heads (from a registered
 * architecture of identical shape, else width/64, OpenAI's convention) and the activation
 * (QuickGELU unless `opts.activation` says otherwise). Preprocessing takes OpenAI's mean and std.
 *
 * @param shapes tensor name → shape, e.g. from a safetensors header
 * @param layout how the tensors are named
 * @param opts `activation`, when known
 * @throws {ConfigError} when a tensor needed to infer a size is missing or inconsistent
 *
 * @example
 * ```ts
 * import { LAYOUT_NAMES } from "./checkpoint_layout.ts";
 * import { inferClipConfig } from "./infer_clip_config.ts";
 * const n = LAYOUT_NAMES.openclip;
 * const shapes = new Map<string, number[]>([
 *   [n.vision.patchEmbed, [128, 3, 16, 16]],
 *   [n.vision.posEmbed, [37, 128]],
 *   [n.vision.proj, [128, 64]],
 *   [`${n.vision.blocks}.0.${n.block.fcWeight}`, [512, 128]],
 *   [n.text.tokenEmbed, [49408, 128]],
 *   [n.text.posEmbed, [77, 128]],
 *   [n.text.proj, [128, 64]],
 *   [`${n.text.blocks}.0.${n.block.fcWeight}`, [512, 128]],
 * ]);
 * const { config, warnings } = inferClipConfig(shapes, "openclip");
 * if (config.vision.imageSize !== 96 || warnings.length === 0) throw new Error("Unexpected inference");
 * ```
 */
export function inferClipConfig(
  shapes: ReadonlyMap<string, readonly number[]>,
  layout: CheckpointLayout,
  opts: InferClipConfigOptions = {},
): InferredClipConfig {
  const names = LAYOUT_NAMES[layout];
  if (!names) throw new ConfigError(`Unknown checkpoint layout: ${JSON.stringify(layout)}`);
  const shape = (name: string, rank: number): readonly number[] => {
    const s = shapes.get(name);
    if (!s) throw new ConfigError(`Cannot infer the CLIP config: tensor "${name}" is missing`);
    if (s.length !== rank) {
      throw new ConfigError(
        `Cannot infer the CLIP config: tensor "${name}" has shape ${
          JSON.stringify(s)
        }, expected rank ${rank}`,
      );
    }
    return s;
  };
  const warnings: string[] = [];

  const conv = shape(names.vision.patchEmbed, 4);
  const vWidth = conv[0];
  const patchSize = conv[2];
  if (conv[1] !== 3 || conv[3] !== patchSize) {
    throw new ConfigError(
      `Cannot infer the CLIP config: patch embedding "${names.vision.patchEmbed}" has shape ${
        JSON.stringify(conv)
      }, expected [width, 3, patch, patch]`,
    );
  }
  const tokens = shape(names.vision.posEmbed, 2)[0] - 1;
  const grid = Math.round(Math.sqrt(tokens));
  if (tokens < 1 || grid * grid !== tokens) {
    throw new ConfigError(
      `Cannot infer the CLIP config: "${names.vision.posEmbed}" holds ${tokens} patch positions, not a square grid`,
    );
  }
  const vProj = shape(names.vision.proj, 2);
  const embedDim = names.projTransposed ? vProj[0] : vProj[1];
  const vLayers = _countBlocks(shapes, names.vision.blocks);
  const vMlp = shape(`${names.vision.blocks}.0.${names.block.fcWeight}`, 2)[0];

  const tok = shape(names.text.tokenEmbed, 2);
  const tWidth = tok[1];
  const contextLength = shape(names.text.posEmbed, 2)[0];
  const tLayers = _countBlocks(shapes, names.text.blocks);
  const tMlp = shape(`${names.text.blocks}.0.${names.block.fcWeight}`, 2)[0];

  const sizes = {
    embedDim,
    vision: { imageSize: grid * patchSize, patchSize, width: vWidth, layers: vLayers, mlpWidth: vMlp },
    text: { contextLength, vocabSize: tok[0], width: tWidth, layers: tLayers, mlpWidth: tMlp },
  };
  const heads = _guessHeads(sizes, warnings);
  const activation = opts.activation ?? "quick_gelu";
  if (!opts.activation) {
    warnings.push(
      "The activation is not stored in the weights: assuming quick_gelu (OpenAI); models trained by OpenCLIP on LAION usually use gelu",
    );
  }
  const config = validateClipConfig({
    embedDim,
    activation,
    vision: { ...sizes.vision, heads: heads.vision, layerNormEps: DEFAULT_LN_EPS },
    text: { ...sizes.text, heads: heads.text, layerNormEps: DEFAULT_LN_EPS },
    preprocess: { mean: [...CLIP_MEAN], std: [...CLIP_STD] },
  }, { source: "inferred CLIP config" });
  return { config, warnings };
}

function _countBlocks(shapes: ReadonlyMap<string, readonly number[]>, prefix: string): number {
  const indices = new Set<number>();
  const start = `${prefix}.`;
  for (const name of shapes.keys()) {
    if (!name.startsWith(start)) continue;
    const m = /^(\d+)\./.exec(name.slice(start.length));
    if (m) indices.add(Number(m[1]));
  }
  const count = indices.size;
  for (let i = 0; i < count; i++) {
    if (!indices.has(i)) {
      throw new ConfigError(`Cannot infer the CLIP config: block ${i} of "${prefix}" is missing`);
    }
  }
  if (count === 0) throw new ConfigError(`Cannot infer the CLIP config: no blocks under "${prefix}"`);
  return count;
}

interface _Sizes {
  embedDim: number;
  vision: { imageSize: number; patchSize: number; width: number; layers: number; mlpWidth: number };
  text: { contextLength: number; vocabSize: number; width: number; layers: number; mlpWidth: number };
}

function _guessHeads(sizes: _Sizes, warnings: string[]): { vision: number; text: number } {
  for (const name of listArchitectures()) {
    const a = getArchitecture(name);
    const same = a.embedDim === sizes.embedDim &&
      (Object.keys(sizes.vision) as (keyof _Sizes["vision"])[]).every((k) =>
        a.vision[k] === sizes.vision[k]
      ) &&
      (Object.keys(sizes.text) as (keyof _Sizes["text"])[]).every((k) => a.text[k] === sizes.text[k]);
    if (same) {
      warnings.push(
        `Attention heads are not stored in the weights: taken from the architecture "${name}" of the same shape (vision ${a.vision.heads}, text ${a.text.heads})`,
      );
      return { vision: a.vision.heads, text: a.text.heads };
    }
  }
  for (const [tower, width] of [["vision", sizes.vision.width], ["text", sizes.text.width]] as const) {
    if (width % DEFAULT_HEAD_WIDTH !== 0) {
      throw new ConfigError(
        `Cannot infer the CLIP config: ${tower} width ${width} matches no known architecture and is not a multiple of ${DEFAULT_HEAD_WIDTH}; supply the config file`,
      );
    }
  }
  const heads = {
    vision: sizes.vision.width / DEFAULT_HEAD_WIDTH,
    text: sizes.text.width / DEFAULT_HEAD_WIDTH,
  };
  warnings.push(
    `Attention heads are not stored in the weights: assuming ${DEFAULT_HEAD_WIDTH}-wide heads (vision ${heads.vision}, text ${heads.text})`,
  );
  return heads;
}
