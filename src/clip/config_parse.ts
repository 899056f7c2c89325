/**
 * The boundary where raw JSON becomes a typed {@linkcode ClipConfig}, the only one: OpenCLIP's
 * `open_clip_config.json` and Hugging Face transformers' `config.json`, each with its schema's
 * defaults. Every field is checked through one {@linkcode Guard}, so a bad file is refused as
 * `Invalid <file>: field X must be …: got …` (or `Unsupported <file>: …` for a tower we do not
 * build), a {@linkcode ConfigError}. The tensor names of the two layouts are in
 * `checkpoint_layout.ts`; a config inferred from tensor shapes in `infer_clip_config.ts`.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { type Fields, Guard } from "../guard.ts";
import type { CheckpointLayout } from "./checkpoint_layout.ts";
import { type Activation, CLIP_MEAN, CLIP_STD, type ClipConfig, type ClipTextConfig } from "./config.ts";

/** Options of {@linkcode parseClipConfig}. */
export interface ParseClipConfigOptions {
  /** Hugging Face `preprocessor_config.json`, whose `image_mean`/`image_std` win over the defaults. */
  preprocessor?: unknown;
  /** Where the JSON came from, for error messages. @default "CLIP config" */
  source?: string;
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

/** CLIP's LayerNorm epsilon, wherever a config leaves it out. */
export const DEFAULT_LN_EPS = 1e-5;

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
  const guard = _configGuard(opts.source ?? "CLIP config");
  guard.object(config, "root");
  _positiveInteger(guard, config.embedDim, "embedDim");
  guard.oneOf(config.activation, "activation", ACTIVATIONS);
  const v = guard.object(config.vision, "vision") as unknown as ClipConfig["vision"];
  const t = guard.object(config.text, "text") as unknown as ClipConfig["text"];
  for (const k of ["imageSize", "patchSize", "width", "layers", "heads", "mlpWidth"] as const) {
    _positiveInteger(guard, v[k], `vision.${k}`);
  }
  for (const k of ["contextLength", "vocabSize", "width", "layers", "heads", "mlpWidth"] as const) {
    _positiveInteger(guard, t[k], `text.${k}`);
  }
  _positiveNumber(guard, v.layerNormEps, "vision.layerNormEps");
  _positiveNumber(guard, t.layerNormEps, "text.layerNormEps");
  if (v.imageSize % v.patchSize !== 0) {
    guard.reject("vision.imageSize", `a multiple of vision.patchSize ${v.patchSize}`, v.imageSize);
  }
  if (v.width % v.heads !== 0) guard.reject("vision.width", `divisible by vision.heads ${v.heads}`, v.width);
  if (t.width % t.heads !== 0) guard.reject("text.width", `divisible by text.heads ${t.heads}`, t.width);
  const p = guard.object(config.preprocess, "preprocess") as unknown as ClipConfig["preprocess"];
  guard.numbers(p.mean, "preprocess.mean", 3);
  if (!Array.isArray(p.std) || p.std.length !== 3 || !p.std.every((x) => Number.isFinite(x) && x > 0)) {
    guard.reject("preprocess.std", "3 finite positive numbers", p.std);
  }
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

const ACTIVATIONS: readonly Activation[] = ["quick_gelu", "gelu"];

/** The guard of one config file: every refusal reads `Invalid <source>: field X must be …: got …`. */
function _configGuard(source: string, verdict = "Invalid"): Guard {
  return new Guard((message, options) => new ConfigError(`${verdict} ${source}: ${message}`, options));
}

function _positiveInteger(guard: Guard, v: unknown, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) guard.reject(field, "a positive integer", v);
  return v as number;
}

function _positiveNumber(guard: Guard, v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) guard.reject(field, "a positive number", v);
  return v;
}

/**
 * One JSON object of a config file, read through the file's guard: each field by its full path
 * (`vision_cfg.width`), absent fields (and `null`) taking the schema's default, an absent object
 * taking every default.
 */
class _Section {
  readonly #guard: Guard;
  readonly #unsupported: Guard;
  readonly #fields: Fields;
  readonly #path: string;

  constructor(guards: { guard: Guard; unsupported: Guard }, value: unknown, path: string) {
    this.#guard = guards.guard;
    this.#unsupported = guards.unsupported;
    this.#fields = value === undefined || value === null ? {} : guards.guard.object(value, path || "root");
    this.#path = path;
  }

  has(key: string): boolean {
    return this.#fields[key] !== undefined && this.#fields[key] !== null;
  }

  raw(key: string): unknown {
    return this.#fields[key];
  }

  child(key: string): _Section {
    return new _Section(
      { guard: this.#guard, unsupported: this.#unsupported },
      this.#fields[key],
      this.name(key),
    );
  }

  /** The field's value, or `fallback` when it is absent. */
  get(key: string, fallback: unknown): unknown {
    return this.has(key) ? this.#fields[key] : fallback;
  }

  int(key: string, fallback?: number): number {
    return _positiveInteger(this.#guard, this.get(key, fallback), this.name(key));
  }

  /** `value` checked as a positive integer under this field's name. */
  intOf(key: string, value: unknown): number {
    return _positiveInteger(this.#guard, value, this.name(key));
  }

  num(key: string, fallback?: number): number {
    return _positiveNumber(this.#guard, this.get(key, fallback), this.name(key));
  }

  bool(key: string, fallback: boolean): boolean {
    return this.#guard.boolean(this.get(key, fallback), this.name(key));
  }

  oneOf<T extends string>(key: string, fallback: T, values: readonly T[]): T {
    return this.#guard.oneOf(this.get(key, fallback), this.name(key), values);
  }

  triple(key: string, fallback: readonly number[]): [number, number, number] {
    return [...this.#guard.numbers(this.get(key, fallback), this.name(key), 3)] as [number, number, number];
  }

  /**
   * Refuses a feature we do not build (`Unsupported <source>: field X must be <allowed> (<why>): got …`),
   * unless the field is absent or holds its harmless value.
   */
  refuse(key: string, allowed: string, harmless: (v: unknown) => boolean, why: string): void {
    if (this.has(key) && !harmless(this.#fields[key])) {
      this.#unsupported.reject(this.name(key), `${allowed} (${why})`, this.#fields[key]);
    }
  }

  /** Throws `field <path.key> must be <what>: got <value>`. */
  reject(key: string, what: string, value: unknown): never {
    return this.#guard.reject(this.name(key), what, value);
  }

  name(key: string): string {
    return this.#path ? `${this.#path}.${key}` : key;
  }
}

function _root(json: unknown, source: string, path = ""): _Section {
  const guards = { guard: _configGuard(source), unsupported: _configGuard(source, "Unsupported") };
  return new _Section(guards, json, path);
}

function _parseOpenClip(json: unknown, source: string): ClipConfig {
  const root = _root(json, source);
  // A bare model config (OpenCLIP's model_configs/*.json) has no model_cfg wrapper.
  const wrapped = root.has("model_cfg");
  const model = wrapped ? root.child("model_cfg") : root;
  const vcfg = model.child("vision_cfg");
  const tcfg = model.child("text_cfg");
  const preprocess = wrapped ? root.child("preprocess_cfg") : _root({}, source, "preprocess_cfg");

  vcfg.refuse("timm_model_name", "absent", () => false, "timm image towers are not supported");
  vcfg.refuse("layers", "a number", (v) => typeof v === "number", "ResNet image towers are not supported");
  vcfg.refuse("ls_init_value", "absent", () => false, "layer scale is not supported");
  vcfg.refuse("attentional_pool", "false", (v) => v === false, "attentional pooling is not supported");
  vcfg.refuse("pool_type", '"tok"', (v) => v === "tok", "only class-token pooling is supported");
  vcfg.refuse("global_average_pool", "false", (v) => v === false, "only class-token pooling is supported");
  vcfg.refuse("no_ln_pre", "false", (v) => v === false, "ln_pre is required");
  vcfg.refuse("input_patchnorm", "false", (v) => v === false, "patch normalisation is not supported");
  tcfg.refuse("hf_model_name", "absent", () => false, "Hugging Face text towers are not supported");
  tcfg.refuse("ls_init_value", "absent", () => false, "layer scale is not supported");
  tcfg.refuse("embed_cls", "false", (v) => v === false, "a class token in the text tower is not supported");
  tcfg.refuse("no_causal_mask", "false", (v) => v === false, "the text tower must be causal");
  tcfg.refuse("pool_type", '"argmax"', (v) => v === "argmax", "only end-of-text pooling is supported");
  tcfg.refuse("proj_bias", "false", (v) => v === false, "a text projection bias is not supported");

  const d = OPENCLIP_VISION_DEFAULTS;
  const imageSize = _openClipImageSize(vcfg, d.image_size);
  const vWidth = vcfg.int("width", d.width);
  const headWidth = vcfg.int("head_width", d.head_width);
  if (vWidth % headWidth !== 0) {
    vcfg.reject("head_width", `a divisor of ${vcfg.name("width")} ${vWidth}`, headWidth);
  }
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

function _openClipImageSize(vcfg: _Section, fallback: number): number {
  const raw = vcfg.raw("image_size");
  if (Array.isArray(raw)) {
    if (raw.length !== 2 || raw[0] !== raw[1]) {
      vcfg.reject("image_size", "a square size (one number, or two equal ones)", raw);
    }
    return vcfg.intOf("image_size", raw[0]);
  }
  return vcfg.int("image_size", fallback);
}

function _mlpWidth(cfg: _Section, width: number, fallbackRatio: number): number {
  const ratio = cfg.num("mlp_ratio", fallbackRatio);
  const mlp = width * ratio;
  if (!Number.isInteger(mlp)) {
    cfg.reject(
      "mlp_ratio",
      `a ratio that makes an integer MLP width from ${cfg.name("width")} ${width}`,
      ratio,
    );
  }
  return mlp;
}

/** A transformers text config section (`text_config`, or a CLIPTextModel's whole config.json). */
function _hfText(tcfg: _Section): ClipTextConfig {
  const td = HF_TEXT_DEFAULTS;
  return {
    contextLength: tcfg.int("max_position_embeddings", td.max_position_embeddings),
    vocabSize: tcfg.int("vocab_size", td.vocab_size),
    width: tcfg.int("hidden_size", td.hidden_size),
    layers: tcfg.int("num_hidden_layers", td.num_hidden_layers),
    heads: tcfg.int("num_attention_heads", td.num_attention_heads),
    mlpWidth: tcfg.int("intermediate_size", td.intermediate_size),
    layerNormEps: tcfg.num("layer_norm_eps", td.layer_norm_eps),
  };
}

/**
 * A transformers `CLIPTextModel` config (`model_type` `clip_text_model`: the text tower alone, as
 * diffusers ships Stable Diffusion's `text_encoder/config.json`), into the text half of a config.
 *
 * @throws {ConfigError} for another model type or a malformed field
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHfTextConfig } from "./config_parse.ts";
 * const cfg = parseHfTextConfig(
 *   { model_type: "clip_text_model", hidden_size: 1024, num_hidden_layers: 23, hidden_act: "gelu" },
 *   "text_encoder/config.json",
 * );
 * assert.equal(cfg.text.width, 1024);
 * assert.equal(cfg.activation, "gelu");
 * ```
 */
export function parseHfTextConfig(
  json: unknown,
  source: string,
): { text: ClipTextConfig; activation: Activation } {
  const root = _root(json, source);
  const modelType = root.get("model_type", "clip_text_model");
  if (modelType !== "clip_text_model") root.reject("model_type", '"clip_text_model"', modelType);
  return {
    text: _hfText(root),
    activation: root.oneOf("hidden_act", HF_TEXT_DEFAULTS.hidden_act, ACTIVATIONS),
  };
}

function _parseHf(json: unknown, preprocessor: unknown, source: string): ClipConfig {
  const root = _root(json, source);
  const modelType = root.get("model_type", "clip");
  if (modelType !== "clip") root.reject("model_type", '"clip"', modelType);
  // Configs written by transformers before v4.21 used *_config_dict.
  const tcfg = root.child(root.has("text_config") ? "text_config" : "text_config_dict");
  const vcfg = root.child(root.has("vision_config") ? "vision_config" : "vision_config_dict");
  const td = HF_TEXT_DEFAULTS, vd = HF_VISION_DEFAULTS;
  const channels = vcfg.int("num_channels", vd.num_channels);
  if (channels !== 3) vcfg.reject("num_channels", "3", channels);
  const vAct = vcfg.oneOf("hidden_act", vd.hidden_act, ACTIVATIONS);
  const tAct = tcfg.oneOf("hidden_act", td.hidden_act, ACTIVATIONS);
  if (vAct !== tAct) {
    _configGuard(source, "Unsupported").reject(
      tcfg.name("hidden_act"),
      `${vAct} as in the vision tower (towers with different activations are not supported)`,
      tAct,
    );
  }
  const pre = _root(preprocessor, source, "preprocessor");
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
    text: _hfText(tcfg),
    preprocess: { mean: pre.triple("image_mean", CLIP_MEAN), std: pre.triple("image_std", CLIP_STD) },
  };
}
