/**
 * Writes canonical CLIP weights as a checkpoint folder in either layout (OpenCLIP or Hugging Face),
 * with the matching config file: how random checkpoints are made, and how a checkpoint is converted
 * from one layout to the other. Tensors are produced and written one at a time, so a ViT-H/14
 * never sits in memory twice.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { CHECKPOINT_FILES } from "./checkpoint.ts";
import { type LayoutTensor, layoutTensors } from "./checkpoint_layout.ts";
import type { ClipConfig } from "./config.ts";
import type { CheckpointLayout } from "./checkpoint_layout.ts";
import type { FloatDtype } from "./safetensors.ts";
import { type TensorToWrite, writeSafetensors } from "./safetensors_writer.ts";

/** CLIP's own initial logit scale, log(1 / 0.07); Hugging Face configs record it. */
export const INIT_LOGIT_SCALE: number = Math.log(1 / 0.07);

/** Options of {@linkcode writeCheckpoint}. */
export interface WriteCheckpointOptions {
  /** The architecture; written as the layout's config file. */
  config: ClipConfig;
  /** How the tensors are named, and which config schema is written. */
  layout: CheckpointLayout;
  /** The stored float type. @default "F16" */
  dtype?: FloatDtype;
  /** The canonical tensor for a layout tensor's key (its parts are sliced from it). */
  canonical: (t: LayoutTensor) => Float32Array | Promise<Float32Array>;
  /**
   * Only the text tower, without its projection, as a Hugging Face `CLIPTextModel` (the layout
   * must be `hf`): how diffusers ships Stable Diffusion's text encoder. @default false
   */
  textOnly?: boolean;
}

/** What {@linkcode writeCheckpoint} wrote. */
export interface WrittenCheckpoint {
  /** The checkpoint folder. */
  readonly dir: string;
  /** The architecture written. */
  readonly config: ClipConfig;
  /** The layout written. */
  readonly layout: CheckpointLayout;
  /** The safetensors weights file. */
  readonly weightsFile: string;
  /** The config file. */
  readonly configFile: string;
}

/**
 * Writes a checkpoint folder: the weights file and its config (plus, for Hugging Face, the
 * preprocessor config). No tokenizer is copied.
 */
export async function writeCheckpoint(dir: string, opts: WriteCheckpointOptions): Promise<WrittenCheckpoint> {
  const { config, layout } = opts;
  const dtype = opts.dtype ?? "F16";
  const textOnly = opts.textOnly ?? false;
  if (textOnly && layout !== "hf") {
    throw new ConfigError("A text-only checkpoint is written in the hf layout");
  }
  const configJson = textOnly
    ? { architectures: ["CLIPTextModel"], model_type: "clip_text_model", ..._hfTextConfigJson(config) }
    : layout === "openclip"
    ? _openClipConfigJson(config)
    : _hfConfigJson(config);
  await Deno.mkdir(dir, { recursive: true });
  const weightsFile = join(dir, CHECKPOINT_FILES[layout].weights);
  const configFile = join(dir, CHECKPOINT_FILES[layout].config);
  const tensors: TensorToWrite[] = [];
  const wanted = (t: LayoutTensor) => !textOnly || (t.key.startsWith("text.") && t.key !== "text.proj");
  for (const t of layoutTensors(config, layout).filter(wanted)) {
    let offset = 0;
    for (const part of t.parts) {
      const start = offset;
      const length = part.shape.reduce((a, b) => a * b, 1);
      offset += length;
      tensors.push({
        name: part.name,
        shape: part.shape,
        dtype,
        data: async () => {
          const data = await opts.canonical(t);
          if (t.transposed) return _transpose2d(data, t.shape[0], t.shape[1]);
          return t.parts.length === 1 ? data : data.subarray(start, start + length);
        },
      });
    }
  }
  await writeSafetensors(weightsFile, tensors, { metadata: { format: "pt" } });
  await Deno.writeTextFile(configFile, JSON.stringify(configJson, null, 2) + "\n");
  if (layout === "hf" && !textOnly) {
    await Deno.writeTextFile(
      join(dir, CHECKPOINT_FILES.hf.preprocessor),
      JSON.stringify(_hfPreprocessorJson(config), null, 2) + "\n",
    );
  }
  return { dir, config, layout, weightsFile, configFile };
}

function _openClipConfigJson(config: ClipConfig): unknown {
  const v = config.vision, t = config.text;
  const ratio = (mlp: number, width: number, tower: string) => {
    const r = mlp / width;
    if (width * r !== mlp) {
      throw new ConfigError(
        `Cannot express the config in the OpenCLIP layout: ${tower} mlpWidth ${mlp} is not width ${width} times a representable ratio`,
      );
    }
    return r;
  };
  const eps = (e: number) => (e === 1e-5 ? {} : { norm_kwargs: { eps: e } });
  return {
    model_cfg: {
      embed_dim: config.embedDim,
      quick_gelu: config.activation === "quick_gelu",
      vision_cfg: {
        image_size: v.imageSize,
        layers: v.layers,
        width: v.width,
        patch_size: v.patchSize,
        head_width: v.width / v.heads,
        mlp_ratio: ratio(v.mlpWidth, v.width, "vision"),
        ...eps(v.layerNormEps),
      },
      text_cfg: {
        context_length: t.contextLength,
        vocab_size: t.vocabSize,
        width: t.width,
        heads: t.heads,
        layers: t.layers,
        mlp_ratio: ratio(t.mlpWidth, t.width, "text"),
        ...eps(t.layerNormEps),
      },
    },
    preprocess_cfg: { mean: config.preprocess.mean, std: config.preprocess.std },
  };
}

function _hfTextConfigJson(config: ClipConfig): Record<string, unknown> {
  const t = config.text;
  return {
    vocab_size: t.vocabSize,
    hidden_size: t.width,
    intermediate_size: t.mlpWidth,
    num_hidden_layers: t.layers,
    num_attention_heads: t.heads,
    max_position_embeddings: t.contextLength,
    hidden_act: config.activation,
    layer_norm_eps: t.layerNormEps,
    projection_dim: config.embedDim,
  };
}

function _hfConfigJson(config: ClipConfig): unknown {
  const v = config.vision;
  return {
    architectures: ["CLIPModel"],
    model_type: "clip",
    projection_dim: config.embedDim,
    logit_scale_init_value: INIT_LOGIT_SCALE,
    text_config: _hfTextConfigJson(config),
    vision_config: {
      hidden_size: v.width,
      intermediate_size: v.mlpWidth,
      num_hidden_layers: v.layers,
      num_attention_heads: v.heads,
      image_size: v.imageSize,
      patch_size: v.patchSize,
      num_channels: 3,
      hidden_act: config.activation,
      layer_norm_eps: v.layerNormEps,
      projection_dim: config.embedDim,
    },
  };
}

function _hfPreprocessorJson(config: ClipConfig): unknown {
  const size = config.vision.imageSize;
  return {
    image_processor_type: "CLIPImageProcessor",
    do_resize: true,
    size: { shortest_edge: size },
    resample: 3,
    do_center_crop: true,
    crop_size: { height: size, width: size },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: config.preprocess.mean,
    image_std: config.preprocess.std,
  };
}

function _transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}
