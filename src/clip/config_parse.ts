/**
 * The boundary where raw JSON (or, lacking a config file, tensor shapes) becomes a typed
 * {@linkcode ClipConfig}. Two on-disk layouts exist: OpenCLIP's (`open_clip_config.json`, state-dict
 * names of OpenAI's code) and Hugging Face transformers' (`config.json`, `CLIPModel` names). Both
 * their config schemas and their tensor names are described here and nowhere else.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { getArchitecture, listArchitectures } from "./architectures.ts";
import { type Activation, CLIP_MEAN, CLIP_STD, type ClipConfig } from "./config.ts";

/** How a checkpoint names its tensors and which config schema it uses. */
export type CheckpointLayout = "openclip" | "hf";

/** Tensor names of one layout. Block names are suffixes after `${blocks}.${i}.`. */
export interface LayoutNames {
  readonly vision: {
    readonly patchEmbed: string;
    readonly classEmbed: string;
    readonly posEmbed: string;
    /** LayerNorm prefix; `.weight` and `.bias` follow. */
    readonly lnPre: string;
    readonly lnPost: string;
    readonly proj: string;
    readonly blocks: string;
  };
  readonly text: {
    readonly tokenEmbed: string;
    readonly posEmbed: string;
    readonly lnFinal: string;
    readonly proj: string;
    readonly blocks: string;
  };
  readonly logitScale: string;
  readonly block: {
    readonly ln1: string;
    /** One fused tensor, or query, key and value in that order. */
    readonly qkvWeight: readonly string[];
    readonly qkvBias: readonly string[];
    readonly outWeight: string;
    readonly outBias: string;
    readonly ln2: string;
    readonly fcWeight: string;
    readonly fcBias: string;
    readonly projWeight: string;
    readonly projBias: string;
  };
  /** Whether the towers' output projections are stored as [embed, width] (a Linear weight). */
  readonly projTransposed: boolean;
}

/** Tensor names per layout. */
export const LAYOUT_NAMES: Readonly<Record<CheckpointLayout, LayoutNames>> = Object.freeze({
  openclip: {
    vision: {
      patchEmbed: "visual.conv1.weight",
      classEmbed: "visual.class_embedding",
      posEmbed: "visual.positional_embedding",
      lnPre: "visual.ln_pre",
      lnPost: "visual.ln_post",
      proj: "visual.proj",
      blocks: "visual.transformer.resblocks",
    },
    text: {
      tokenEmbed: "token_embedding.weight",
      posEmbed: "positional_embedding",
      lnFinal: "ln_final",
      proj: "text_projection",
      blocks: "transformer.resblocks",
    },
    logitScale: "logit_scale",
    block: {
      ln1: "ln_1",
      qkvWeight: ["attn.in_proj_weight"],
      qkvBias: ["attn.in_proj_bias"],
      outWeight: "attn.out_proj.weight",
      outBias: "attn.out_proj.bias",
      ln2: "ln_2",
      fcWeight: "mlp.c_fc.weight",
      fcBias: "mlp.c_fc.bias",
      projWeight: "mlp.c_proj.weight",
      projBias: "mlp.c_proj.bias",
    },
    projTransposed: false,
  },
  hf: {
    vision: {
      patchEmbed: "vision_model.embeddings.patch_embedding.weight",
      classEmbed: "vision_model.embeddings.class_embedding",
      posEmbed: "vision_model.embeddings.position_embedding.weight",
      // Spelled this way in transformers.
      lnPre: "vision_model.pre_layrnorm",
      lnPost: "vision_model.post_layernorm",
      proj: "visual_projection.weight",
      blocks: "vision_model.encoder.layers",
    },
    text: {
      tokenEmbed: "text_model.embeddings.token_embedding.weight",
      posEmbed: "text_model.embeddings.position_embedding.weight",
      lnFinal: "text_model.final_layer_norm",
      proj: "text_projection.weight",
      blocks: "text_model.encoder.layers",
    },
    logitScale: "logit_scale",
    block: {
      ln1: "layer_norm1",
      qkvWeight: ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"],
      qkvBias: ["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"],
      outWeight: "self_attn.out_proj.weight",
      outBias: "self_attn.out_proj.bias",
      ln2: "layer_norm2",
      fcWeight: "mlp.fc1.weight",
      fcBias: "mlp.fc1.bias",
      projWeight: "mlp.fc2.weight",
      projBias: "mlp.fc2.bias",
    },
    projTransposed: true,
  },
});

/** Options of {@linkcode parseClipConfig}. */
export interface ParseClipConfigOptions {
  /** Hugging Face `preprocessor_config.json`, whose `image_mean`/`image_std` win over the defaults. */
  preprocessor?: unknown;
  /** Where the JSON came from, for error messages. @default "CLIP config" */
  source?: string;
}

/** Options of {@linkcode inferClipConfig}. */
export interface InferClipConfigOptions {
  /** The activation, when the caller knows it; otherwise QuickGELU is assumed with a warning. */
  activation?: Activation;
}

/** An inferred config and what had to be guessed. */
export interface InferredClipConfig {
  config: ClipConfig;
  /** One sentence per guess (activation, attention heads). */
  warnings: string[];
}

// OpenCLIP's CLIPVisionCfg / CLIPTextCfg defaults: per-model files list only what differs.
const OPENCLIP_VISION_DEFAULTS = {
  image_size: 224,
  layers: 12,
  width: 768,
  head_width: 64,
  mlp_ratio: 4.0,
  patch_size: 16,
} as const;
const OPENCLIP_TEXT_DEFAULTS = {
  context_length: 77,
  vocab_size: 49408,
  width: 512,
  heads: 8,
  layers: 12,
  mlp_ratio: 4.0,
} as const;

// transformers' CLIPConfig / CLIPTextConfig / CLIPVisionConfig defaults: saved configs omit fields
// that equal them.
const HF_PROJECTION_DIM = 512;
const HF_TEXT_DEFAULTS = {
  vocab_size: 49408,
  hidden_size: 512,
  intermediate_size: 2048,
  num_hidden_layers: 12,
  num_attention_heads: 8,
  max_position_embeddings: 77,
  hidden_act: "quick_gelu",
  layer_norm_eps: 1e-5,
} as const;
const HF_VISION_DEFAULTS = {
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  image_size: 224,
  patch_size: 32,
  num_channels: 3,
  hidden_act: "quick_gelu",
  layer_norm_eps: 1e-5,
} as const;

const DEFAULT_LN_EPS = 1e-5;
/** OpenAI's towers use 64-wide attention heads; used only when nothing better is known. */
const DEFAULT_HEAD_WIDTH = 64;

/**
 * Turns a parsed config file into a validated {@linkcode ClipConfig}.
 *
 * OpenCLIP: `open_clip_config.json` (`{model_cfg, preprocess_cfg}`), or a bare `model_cfg` as in
 * OpenCLIP's `model_configs/*.json`. Absent fields take OpenCLIP's defaults; `quick_gelu` absent
 * means GELU; vision heads are `width / head_width`. Towers OpenCLIP builds differently from plain
 * CLIP (timm or HF text towers, attentional pooling, layer scale, …) are refused.
 *
 * Hugging Face: `config.json` of a `CLIPModel`. Absent fields take transformers' defaults; both
 * towers must use the same activation.
 *
 * @param json the parsed JSON
 * @param layout which schema it follows
 * @param opts `preprocessor` (HF `preprocessor_config.json`) and `source` for messages
 * @throws {ConfigError} when a field is malformed or the architecture is not plain CLIP
 *
 * @example OpenCLIP
 * ```ts
 * import { parseClipConfig } from "./config_parse.ts";
 * const cfg = parseClipConfig({
 *   model_cfg: {
 *     embed_dim: 512,
 *     quick_gelu: true,
 *     vision_cfg: { image_size: 224, layers: 12, width: 768, patch_size: 16 },
 *     text_cfg: { width: 512, heads: 8, layers: 12 },
 *   },
 * }, "openclip");
 * if (cfg.vision.heads !== 12 || cfg.activation !== "quick_gelu") throw new Error("Unexpected config");
 * ```
 */
export function parseClipConfig(
  json: unknown,
  layout: CheckpointLayout,
  opts: ParseClipConfigOptions = {},
): ClipConfig {
  const source = opts.source ?? "CLIP config";
  if (layout === "openclip") return validateClipConfig(_parseOpenClip(json, source), { source });
  if (layout === "hf") return validateClipConfig(_parseHf(json, opts.preprocessor, source), { source });
  throw new ConfigError(`Unknown checkpoint layout: ${JSON.stringify(layout)}`);
}

/**
 * Checks a config's internal consistency: positive integer sizes, widths divisible by heads, image
 * size divisible by patch size, positive epsilons, three finite means and positive stds.
 *
 * @param config the config to check
 * @param opts `source` names it in messages
 * @returns a copy of the config
 * @throws {ConfigError} naming the first offending field
 *
 * @example
 * ```ts
 * import { validateClipConfig } from "./config_parse.ts";
 * import { getArchitecture } from "./architectures.ts";
 * const cfg = getArchitecture("tiny");
 * cfg.vision.heads = 3;
 * try {
 *   validateClipConfig(cfg);
 *   throw new Error("Expected a ConfigError");
 * } catch (err) {
 *   if ((err as Error).name !== "ConfigError") throw err;
 * }
 * ```
 */
export function validateClipConfig(config: ClipConfig, opts: { source?: string } = {}): ClipConfig {
  const source = opts.source ?? "CLIP config";
  const fail = (detail: string): never => {
    throw new ConfigError(`Invalid ${source}: ${detail}`);
  };
  const posInt = (v: unknown, field: string) => {
    if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(`${field} must be a positive integer, got ${v}`);
  };
  const posNum = (v: unknown, field: string) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      fail(`${field} must be a positive number, got ${v}`);
    }
  };
  if (typeof config !== "object" || config === null) fail("not an object");
  posInt(config.embedDim, "embedDim");
  if (config.activation !== "quick_gelu" && config.activation !== "gelu") {
    fail(`activation must be "quick_gelu" or "gelu", got ${JSON.stringify(config.activation)}`);
  }
  const v = config.vision, t = config.text;
  if (typeof v !== "object" || v === null) fail("vision is missing");
  if (typeof t !== "object" || t === null) fail("text is missing");
  for (const k of ["imageSize", "patchSize", "width", "layers", "heads", "mlpWidth"] as const) {
    posInt(v[k], `vision.${k}`);
  }
  for (const k of ["contextLength", "vocabSize", "width", "layers", "heads", "mlpWidth"] as const) {
    posInt(t[k], `text.${k}`);
  }
  posNum(v.layerNormEps, "vision.layerNormEps");
  posNum(t.layerNormEps, "text.layerNormEps");
  if (v.imageSize % v.patchSize !== 0) {
    fail(`vision.imageSize ${v.imageSize} is not a multiple of vision.patchSize ${v.patchSize}`);
  }
  if (v.width % v.heads !== 0) fail(`vision.width ${v.width} is not divisible by vision.heads ${v.heads}`);
  if (t.width % t.heads !== 0) fail(`text.width ${t.width} is not divisible by text.heads ${t.heads}`);
  const p = config.preprocess;
  if (typeof p !== "object" || p === null) fail("preprocess is missing");
  const triple = (a: unknown, field: string, positive: boolean) => {
    if (
      !Array.isArray(a) || a.length !== 3 ||
      !a.every((x) => typeof x === "number" && Number.isFinite(x) && (!positive || x > 0))
    ) {
      fail(`${field} must be three finite${positive ? " positive" : ""} numbers, got ${JSON.stringify(a)}`);
    }
  };
  triple(p.mean, "preprocess.mean", false);
  triple(p.std, "preprocess.std", true);
  return {
    embedDim: config.embedDim,
    activation: config.activation,
    vision: { ...v },
    text: { ...t },
    preprocess: {
      mean: [...p.mean] as [number, number, number],
      std: [...p.std] as [number, number, number],
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Typed access to one JSON object, with the field path in every message. */
class _Fields {
  readonly #obj: Record<string, unknown>;
  readonly #path: string;
  readonly #source: string;

  constructor(value: unknown, path: string, source: string) {
    if (value === undefined || value === null) value = {};
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(`Invalid ${source}: ${path || "root"} must be an object`);
    }
    this.#obj = value as Record<string, unknown>;
    this.#path = path;
    this.#source = source;
  }

  has(key: string): boolean {
    return this.#obj[key] !== undefined && this.#obj[key] !== null;
  }

  raw(key: string): unknown {
    return this.#obj[key];
  }

  child(key: string): _Fields {
    return new _Fields(this.#obj[key], this.#name(key), this.#source);
  }

  int(key: string, fallback?: number): number {
    const v = this.has(key) ? this.#obj[key] : fallback;
    if (v === undefined) this.fail(key, "is required");
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      this.fail(key, `must be a positive integer, got ${v}`);
    }
    return v as number;
  }

  num(key: string, fallback?: number): number {
    const v = this.has(key) ? this.#obj[key] : fallback;
    if (v === undefined) this.fail(key, "is required");
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      this.fail(key, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v as number;
  }

  str(key: string, fallback: string): string {
    const v = this.has(key) ? this.#obj[key] : fallback;
    if (typeof v !== "string") this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v as string;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.has(key) ? this.#obj[key] : fallback;
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  }

  triple(key: string, fallback: readonly number[]): [number, number, number] {
    const v = this.has(key) ? this.#obj[key] : fallback;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      this.fail(key, `must be three numbers, got ${JSON.stringify(v)}`);
    }
    return [...(v as number[])] as [number, number, number];
  }

  /** Refuses a feature we do not build, unless it holds its harmless value. */
  refuse(key: string, harmless: (v: unknown) => boolean, what: string): void {
    if (this.has(key) && !harmless(this.#obj[key])) {
      throw new ConfigError(
        `Unsupported ${this.#source}: ${this.#name(key)} = ${JSON.stringify(this.#obj[key])} (${what})`,
      );
    }
  }

  fail(key: string, detail: string): never {
    throw new ConfigError(`Invalid ${this.#source}: ${this.#name(key)} ${detail}`);
  }

  #name(key: string): string {
    return this.#path ? `${this.#path}.${key}` : key;
  }
}

function _parseOpenClip(json: unknown, source: string): ClipConfig {
  const root = new _Fields(json, "", source);
  // A bare model config (OpenCLIP's model_configs/*.json) has no model_cfg wrapper.
  const wrapped = root.has("model_cfg");
  const model = wrapped ? root.child("model_cfg") : root;
  const vcfg = model.child("vision_cfg");
  const tcfg = model.child("text_cfg");
  const preprocess = wrapped ? root.child("preprocess_cfg") : new _Fields({}, "preprocess_cfg", source);

  vcfg.refuse("timm_model_name", () => false, "timm image towers are not supported");
  vcfg.refuse("layers", (v) => typeof v === "number", "ResNet image towers are not supported");
  vcfg.refuse("ls_init_value", () => false, "layer scale is not supported");
  vcfg.refuse("attentional_pool", (v) => v === false, "attentional pooling is not supported");
  vcfg.refuse("pool_type", (v) => v === "tok", "only class-token pooling is supported");
  vcfg.refuse("global_average_pool", (v) => v === false, "only class-token pooling is supported");
  vcfg.refuse("no_ln_pre", (v) => v === false, "ln_pre is required");
  vcfg.refuse("input_patchnorm", (v) => v === false, "patch normalisation is not supported");
  tcfg.refuse("hf_model_name", () => false, "Hugging Face text towers are not supported");
  tcfg.refuse("ls_init_value", () => false, "layer scale is not supported");
  tcfg.refuse("embed_cls", (v) => v === false, "a class token in the text tower is not supported");
  tcfg.refuse("no_causal_mask", (v) => v === false, "the text tower must be causal");
  tcfg.refuse("pool_type", (v) => v === "argmax", "only end-of-text pooling is supported");
  tcfg.refuse("proj_bias", (v) => v === false, "a text projection bias is not supported");

  const d = OPENCLIP_VISION_DEFAULTS;
  const imageSize = _openClipImageSize(vcfg, d.image_size);
  const vWidth = vcfg.int("width", d.width);
  const headWidth = vcfg.int("head_width", d.head_width);
  if (vWidth % headWidth !== 0) vcfg.fail("head_width", `${headWidth} does not divide width ${vWidth}`);
  const vMlp = _mlpWidth(vcfg, vWidth, d.mlp_ratio);
  const td = OPENCLIP_TEXT_DEFAULTS;
  const tWidth = tcfg.int("width", td.width);
  return {
    embedDim: model.int("embed_dim"),
    activation: model.bool("quick_gelu", false) ? "quick_gelu" : "gelu",
    vision: {
      imageSize,
      patchSize: vcfg.int("patch_size", d.patch_size),
      width: vWidth,
      layers: vcfg.int("layers", d.layers),
      heads: vWidth / headWidth,
      mlpWidth: vMlp,
      layerNormEps: vcfg.child("norm_kwargs").num("eps", DEFAULT_LN_EPS),
    },
    text: {
      contextLength: tcfg.int("context_length", td.context_length),
      vocabSize: tcfg.int("vocab_size", td.vocab_size),
      width: tWidth,
      layers: tcfg.int("layers", td.layers),
      heads: tcfg.int("heads", td.heads),
      mlpWidth: _mlpWidth(tcfg, tWidth, td.mlp_ratio),
      layerNormEps: tcfg.child("norm_kwargs").num("eps", DEFAULT_LN_EPS),
    },
    preprocess: { mean: preprocess.triple("mean", CLIP_MEAN), std: preprocess.triple("std", CLIP_STD) },
  };
}

function _openClipImageSize(vcfg: _Fields, fallback: number): number {
  const raw = vcfg.raw("image_size");
  if (Array.isArray(raw)) {
    if (raw.length !== 2 || raw[0] !== raw[1]) {
      vcfg.fail("image_size", `must be square, got ${JSON.stringify(raw)}`);
    }
    return new _Fields({ image_size: raw[0] }, "vision_cfg", "").int("image_size");
  }
  return vcfg.int("image_size", fallback);
}

function _mlpWidth(cfg: _Fields, width: number, fallbackRatio: number): number {
  const ratio = cfg.num("mlp_ratio", fallbackRatio);
  const mlp = width * ratio;
  if (!Number.isInteger(mlp)) cfg.fail("mlp_ratio", `${ratio} times width ${width} is not an integer`);
  return mlp;
}

function _parseHf(json: unknown, preprocessor: unknown, source: string): ClipConfig {
  const root = new _Fields(json, "", source);
  const modelType = root.str("model_type", "clip");
  if (modelType !== "clip") {
    root.fail("model_type", `must be "clip", got ${JSON.stringify(modelType)}`);
  }
  // Configs written by transformers before v4.21 used *_config_dict.
  const tcfg = root.child(root.has("text_config") ? "text_config" : "text_config_dict");
  const vcfg = root.child(root.has("vision_config") ? "vision_config" : "vision_config_dict");
  const td = HF_TEXT_DEFAULTS, vd = HF_VISION_DEFAULTS;
  if (vcfg.int("num_channels", vd.num_channels) !== 3) vcfg.fail("num_channels", "must be 3");
  const vAct = _hfActivation(vcfg, vd.hidden_act);
  const tAct = _hfActivation(tcfg, td.hidden_act);
  if (vAct !== tAct) {
    throw new ConfigError(
      `Unsupported ${source}: towers use different activations (vision ${vAct}, text ${tAct})`,
    );
  }
  const pre = new _Fields(preprocessor, "preprocessor", source);
  return {
    embedDim: root.int("projection_dim", HF_PROJECTION_DIM),
    activation: vAct,
    vision: {
      imageSize: vcfg.int("image_size", vd.image_size),
      patchSize: vcfg.int("patch_size", vd.patch_size),
      width: vcfg.int("hidden_size", vd.hidden_size),
      layers: vcfg.int("num_hidden_layers", vd.num_hidden_layers),
      heads: vcfg.int("num_attention_heads", vd.num_attention_heads),
      mlpWidth: vcfg.int("intermediate_size", vd.intermediate_size),
      layerNormEps: vcfg.num("layer_norm_eps", vd.layer_norm_eps),
    },
    text: {
      contextLength: tcfg.int("max_position_embeddings", td.max_position_embeddings),
      vocabSize: tcfg.int("vocab_size", td.vocab_size),
      width: tcfg.int("hidden_size", td.hidden_size),
      layers: tcfg.int("num_hidden_layers", td.num_hidden_layers),
      heads: tcfg.int("num_attention_heads", td.num_attention_heads),
      mlpWidth: tcfg.int("intermediate_size", td.intermediate_size),
      layerNormEps: tcfg.num("layer_norm_eps", td.layer_norm_eps),
    },
    preprocess: { mean: pre.triple("image_mean", CLIP_MEAN), std: pre.triple("image_std", CLIP_STD) },
  };
}

function _hfActivation(cfg: _Fields, fallback: string): Activation {
  const act = cfg.str("hidden_act", fallback);
  if (act !== "quick_gelu" && act !== "gelu") {
    cfg.fail("hidden_act", `must be "quick_gelu" or "gelu", got ${JSON.stringify(act)}`);
  }
  return act as Activation;
}

// ---------------------------------------------------------------------------------------------

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
 * import { inferClipConfig, LAYOUT_NAMES } from "./config_parse.ts";
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
