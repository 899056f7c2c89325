/**
 * Feature extractors for the patch branch: anything that turns frames into {@linkcode PatchFeatures}.
 *
 * - {@linkcode openOnnxExtractor}: any ONNX network that outputs [N,C,H,W] feature maps, described by
 *   a JSON file (`models/proxy/backbone.json` is the reference): the file, input name and size, how
 *   frames are resized, `(pixel·scale − mean)/std`, which outputs to use.
 * - {@linkcode clipExtractor}: the tokens of chosen CLIP vision blocks, class token dropped.
 *
 * The JSON becomes a typed {@linkcode BackboneConfig} in {@linkcode parseBackboneConfig} only.
 *
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ConfigError, ShapeError } from "../../errors.ts";
import { clipResizeGeometry, resizeBicubic, type Rgb8Image } from "../../image/mod.ts";
import { preprocessRgb } from "../../clip/mod.ts";
import type { ClipModel } from "../../model/mod.ts";
import {
  createSession,
  type Device,
  freeSpatialDims,
  type OnnxSession,
  type RunTensor,
} from "../../onnx/mod.ts";
import { type BackboneInterpolation, type BackboneResize, resizeFrame } from "./frame_resize.ts";
import { type PatchFeatures, PatchHead, type PatchLayer } from "./patch_features.ts";

export type { PatchFeatures } from "./patch_features.ts";

export type { BackboneInterpolation, BackboneResize } from "./frame_resize.ts";

/** A backbone description, validated. */
export interface BackboneConfig {
  name: string;
  /** Absolute path of the ONNX file. */
  onnx: string;
  /** The image input's name. */
  input: string;
  /** Side of the square input the network was exported for. */
  size: number;
  resize: BackboneResize;
  /** @default {"bilinear"} */
  interpolation: BackboneInterpolation;
  /** Pixel values are `(pixel·scale − mean)/std` per channel. */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** Feature-map outputs the patch branch uses, [N,C,H,W]. */
  outputs: string[];
  layout: "NCHW";
}

/**
 * What happens to a frame's intensities before the config's `(pixel·scale − mean)/std`: `raw` keeps
 * them; `standardise` maps each frame's own mean and spread to fixed values first; `auto`
 * standardises greyscale frames (R = G = B everywhere) and keeps colour frames raw.
 *
 * Measured (bench/patch_quality.ts): on magnetic tile, grey crops whose exposure varies from dim to
 * saturated, standardising gains 0.01–0.02 image and pixel AUROC; on MVTec bottle, colour frames
 * under controlled light, it costs 0.005 pixel AUROC, because a large defect shifts the frame's own
 * statistics and with them every patch. A monochrome camera is where exposure drift lives, hence `auto`.
 */
export type IntensityMode = "raw" | "standardise" | "auto";

const STANDARD_MEAN = 0.45;
const STANDARD_STD = 0.225;

/** What every extractor offers. */
export interface FeatureExtractor {
  /** The backbone's name. */
  readonly name: string;
  /**
   * The network input every frame is resized to; undefined when frames keep their aspect ratio
   * (an ONNX extractor opened with `scale`), so that grids differ between frames of different shape.
   */
  readonly inputSize: { width: number; height: number } | undefined;
  /**
   * Patch features of frames (any size; each is resized to the network input).
   *
   * @throws {ShapeError} when the frames' grids differ (aspect-preserving extractors): use `extractEach`
   */
  extract(images: readonly Rgb8Image[]): Promise<PatchFeatures>;
  /** Patch features of each frame on its own grid, in order. */
  extractEach(images: readonly Rgb8Image[]): Promise<PatchFeatures[]>;
  /**
   * A frame resized to `inputSize` the way `extract` resizes it; extracting the result resizes
   * nothing more. Augmented views of a frame are made from this, so that they are views of what the
   * network sees.
   */
  prepare(image: Rgb8Image): Rgb8Image;
  /** Releases the sessions. */
  dispose(): Promise<void>;
}

/**
 * Turns a parsed backbone JSON into a typed config, checking every field.
 *
 * @param json the parsed JSON
 * @param opts `baseDir`: the folder `onnx` is relative to; `source`: the file, for messages
 * @returns the validated config
 * @throws {ConfigError} naming the field (and the file) when a field is missing or invalid
 *
 * @example The proxy's description
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const config = parseBackboneConfig({
 *   name: "proxy", onnx: "model.onnx", input: "pixel_values", size: 224, resize: "whole",
 *   scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], outputs: ["features_14"], layout: "NCHW",
 * }, { baseDir: "/models/proxy" });
 * strictEqual(config.onnx, "/models/proxy/model.onnx");
 * strictEqual(config.interpolation, "bilinear");
 * ```
 */
export function parseBackboneConfig(
  json: unknown,
  opts: { baseDir: string; source?: string },
): BackboneConfig {
  const where = opts.source ? ` in ${opts.source}` : "";
  const fail = (field: string, why: string) => new ConfigError(`Backbone field "${field}" ${why}${where}`);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`Backbone description must be a JSON object${where}`);
  }
  const o = json as Record<string, unknown>;
  const known = new Set([
    "name",
    "onnx",
    "input",
    "size",
    "resize",
    "interpolation",
    "scale",
    "mean",
    "std",
    "outputs",
    "layout",
  ]);
  for (const key of Object.keys(o)) if (!known.has(key)) throw fail(key, "is not a backbone field");
  const string = (field: string): string => {
    const v = o[field];
    if (typeof v !== "string" || v.length === 0) {
      throw fail(field, `must be a non-empty string: got ${show(v)}`);
    }
    return v;
  };
  const oneOf = <T extends string>(field: string, values: readonly T[], fallback?: T): T => {
    const v = o[field] ?? fallback;
    if (!values.includes(v as T)) throw fail(field, `must be one of ${values.join(", ")}: got ${show(v)}`);
    return v as T;
  };
  const triple = (field: string, positive: boolean): [number, number, number] => {
    const v = o[field];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      throw fail(field, `must be three finite numbers: got ${show(v)}`);
    }
    if (positive && v.some((x) => x <= 0)) throw fail(field, `must be positive: got ${show(v)}`);
    return v as [number, number, number];
  };
  const size = o.size;
  if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) {
    throw fail("size", `must be a positive integer: got ${show(size)}`);
  }
  const scale = o.scale;
  if (typeof scale !== "number" || !(scale > 0) || !Number.isFinite(scale)) {
    throw fail("scale", `must be a positive number: got ${show(scale)}`);
  }
  const outputs = o.outputs;
  if (
    !Array.isArray(outputs) || outputs.length === 0 ||
    !outputs.every((x) => typeof x === "string" && x.length > 0)
  ) {
    throw fail("outputs", `must be a non-empty list of output names: got ${show(outputs)}`);
  }
  if (new Set(outputs).size !== outputs.length) {
    throw fail("outputs", `names a layer twice: ${show(outputs)}`);
  }
  const onnx = string("onnx");
  return {
    name: string("name"),
    onnx: isAbsolute(onnx) ? onnx : join(opts.baseDir, onnx),
    input: string("input"),
    size,
    resize: oneOf("resize", ["whole", "crop"] as const),
    interpolation: oneOf("interpolation", ["bilinear", "bicubic"] as const, "bilinear"),
    scale,
    mean: triple("mean", false),
    std: triple("std", true),
    outputs: outputs as string[],
    layout: oneOf("layout", ["NCHW"] as const),
  };
}

/**
 * Reads and validates a backbone JSON file; `onnx` is resolved against the file's folder and must
 * lie inside it (a description is data, and may come with a profile from another instance: it does
 * not get to name any file on the machine).
 *
 * @param path the JSON file
 * @returns the validated config
 * @throws {ConfigError} when the file cannot be read, is not JSON, a field is invalid, or `onnx`
 *   points outside the file's folder
 */
export async function loadBackboneConfig(path: string): Promise<BackboneConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`Backbone description cannot be read: ${path}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Backbone description is not valid JSON: ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const config = parseBackboneConfig(json, { baseDir: dirname(path), source: path });
  const folder = resolve(dirname(path));
  const inside = relative(folder, resolve(config.onnx));
  if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new ConfigError(
      `Backbone field "onnx" points outside the description's folder in ${path}: ${
        show((json as Record<string, unknown>).onnx)
      } (the model must sit in ${folder})`,
    );
  }
  return config;
}

/** Options for {@linkcode openOnnxExtractor}. */
export interface OnnxExtractorOptions {
  /**
   * The network input every frame is resized to, when not the config's `size` square. The network
   * must then be fully convolutional: its declared input size is freed, and the outputs are checked
   * to scale with the input.
   * @default {the config's size, square}
   */
  inputSize?: { width: number; height: number };
  /**
   * Instead of one input size: each frame keeps its aspect ratio and is resized by this factor,
   * each side rounded to a multiple of the coarsest layer's stride (the network must be fully
   * convolutional). Frames from one camera then keep one pixel scale, which squashing to a square
   * does not: a 105×398 crop and a 600×400 crop would be stretched by factors 4 and 0.6 alike.
   */
  scale?: number;
  /**
   * Layers to use and their weights.
   * @default {the config's outputs, weight 1}
   */
  layers?: { name: string; weight?: number }[];
  /**
   * Input pixels per patch-grid cell.
   * @default {the coarsest chosen layer's stride}
   */
  gridStride?: number;
  /**
   * Neighbourhood averaged into each patch vector (odd).
   * @default {3}
   */
  pool?: number;
  /**
   * Per-frame intensity treatment.
   * @default {"raw"}
   */
  intensity?: IntensityMode;
  /** Frames run through the backbone at once. @default {8} */
  batch?: number;
  /** @default "auto" */
  device?: Device;
  /** CPU threads for onnxruntime. @default {all cores} */
  threads?: number;
  /** Provider lines. @default {silent} */
  log?: (line: string) => void;
}

/** A planar network input and its size. */
export interface NetworkInput {
  /** [3, height, width]. */
  pixels: Float32Array;
  width: number;
  height: number;
}

/**
 * The network half of an ONNX extractor: resizes and normalises frames, runs the model, returns the
 * chosen feature maps. Exposed for tools that want raw maps; most callers want
 * {@linkcode openOnnxExtractor}.
 */
export class OnnxBackbone {
  readonly config: BackboneConfig;
  /** The fixed input size; undefined when frames are scaled by `scale` instead. */
  readonly inputSize: { width: number; height: number } | undefined;
  /** The per-frame scale factor when frames keep their aspect ratio. */
  readonly scale: number | undefined;
  /** Each used output's channels and stride, measured by a probe run. */
  readonly layers: readonly { name: string; channels: number; stride: number }[];
  /** How frame intensities are treated before the config's normalisation. */
  readonly intensity: IntensityMode;
  readonly #session: OnnxSession;
  readonly #multiple: number;

  private constructor(
    config: BackboneConfig,
    geometry: { inputSize?: { width: number; height: number }; scale?: number; intensity: IntensityMode },
    layers: { name: string; channels: number; stride: number }[],
    session: OnnxSession,
  ) {
    this.config = config;
    this.inputSize = geometry.inputSize;
    this.scale = geometry.scale;
    this.intensity = geometry.intensity;
    this.layers = layers;
    this.#session = session;
    this.#multiple = Math.max(...layers.map((l) => l.stride));
  }

  /**
   * Opens the model and checks its outputs with one probe run: each must exist, be [1,C,H,W], and
   * divide the input evenly (the stride).
   *
   * @throws {ConfigError} when the model lacks the input or an output, an output is not a feature
   *   map, or the geometry options are invalid
   */
  static async open(
    config: BackboneConfig,
    opts: Pick<OnnxExtractorOptions, "inputSize" | "scale" | "intensity" | "device" | "threads" | "log"> = {},
  ): Promise<OnnxBackbone> {
    if (opts.inputSize && opts.scale !== undefined) {
      throw new ConfigError("Backbone input takes either a fixed inputSize or a scale, not both");
    }
    if (opts.scale !== undefined && !(opts.scale > 0 && Number.isFinite(opts.scale))) {
      throw new ConfigError(`Backbone input scale must be a positive number: got ${opts.scale}`);
    }
    const inputSize = opts.scale === undefined
      ? opts.inputSize ?? { width: config.size, height: config.size }
      : undefined;
    const probeSize = inputSize ?? { width: config.size, height: config.size };
    for (const side of [probeSize.width, probeSize.height]) {
      if (!Number.isInteger(side) || side <= 0) {
        throw new ConfigError(
          `Backbone input size must be positive integers: got ${JSON.stringify(probeSize)}`,
        );
      }
    }
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(config.onnx);
    } catch (error) {
      throw new ConfigError(`Backbone model cannot be read: ${config.onnx}`, { cause: error });
    }
    const nominal = inputSize?.width === config.size && inputSize?.height === config.size;
    const model = nominal ? bytes : freeSpatialDims(bytes, config.input);
    const session = await createSession(model, {
      label: config.name,
      device: opts.device,
      threads: opts.threads,
      log: opts.log ?? (() => {}),
    });
    try {
      if (!session.inputNames.includes(config.input)) {
        throw new ConfigError(
          `Backbone ${config.name} has no input "${config.input}": it has ${session.inputNames.join(", ")}`,
        );
      }
      const missing = config.outputs.filter((o) => !session.outputNames.includes(o));
      if (missing.length) {
        throw new ConfigError(
          `Backbone ${config.name} has no output ${missing.join(", ")}: it has ${
            session.outputNames.join(", ")
          }`,
        );
      }
      const layers = await probeLayers(session, config, probeSize);
      const backbone = new OnnxBackbone(
        config,
        { inputSize, scale: opts.scale, intensity: opts.intensity ?? "raw" },
        layers,
        session,
      );
      if (!nominal) {
        // A graph with a size baked in somewhere (a Reshape, a fixed Resize) fails or mis-scales here.
        const other = { width: probeSize.width + backbone.#multiple, height: probeSize.height };
        const again = await probeLayers(session, config, other);
        if (again.some((l, i) => l.stride !== layers[i].stride)) {
          throw new ConfigError(
            `Backbone ${config.name} is not fully convolutional: its outputs do not scale with the input`,
          );
        }
      }
      return backbone;
    } catch (error) {
      await session.dispose();
      throw error;
    }
  }

  /** The network input size of a frame of the given size. */
  inputSizeFor(frame: { width: number; height: number }): { width: number; height: number } {
    if (this.inputSize) return this.inputSize;
    const m = this.#multiple, s = this.scale!;
    return {
      width: Math.max(m, Math.round((frame.width * s) / m) * m),
      height: Math.max(m, Math.round((frame.height * s) / m) * m),
    };
  }

  /** A frame resized to its network input size per the config's resize mode and filter. */
  resize(image: Rgb8Image): Rgb8Image {
    return resizeFrame(image, this.inputSizeFor(image), this.config);
  }

  /** A frame as the network's input: resized, `(pixel·scale − mean)/std`, planar. */
  preprocess(image: Rgb8Image): NetworkInput {
    const resized = this.resize(image);
    const { width, height } = resized;
    const plane = width * height;
    const out = new Float32Array(3 * plane);
    const { scale, mean, std } = this.config;
    const src = resized.data;
    let gain = 1, offset = 0;
    if (this.intensity === "standardise" || (this.intensity === "auto" && isGrey(src))) {
      // The frame's brightness and contrast mapped to ImageNet's (mean 0.45, std 0.225 of full
      // scale), so that dim, unevenly exposed frames reach the network in the range it was trained on.
      let sum = 0, sq = 0;
      for (let i = 0; i < src.length; i++) {
        sum += src[i];
        sq += src[i] * src[i];
      }
      const mu = sum / src.length;
      const sigma = Math.sqrt(Math.max(sq / src.length - mu * mu, 1));
      gain = (STANDARD_STD * 255) / sigma;
      offset = STANDARD_MEAN * 255 - mu * gain;
    }
    const lut = new Float32Array(768);
    for (let c = 0; c < 3; c++) {
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = ((v * gain + offset) * scale - mean[c]) / std[c];
    }
    for (let i = 0, s = 0; i < plane; i++, s += 3) {
      out[i] = lut[src[s]];
      out[plane + i] = lut[256 + src[s + 1]];
      out[2 * plane + i] = lut[512 + src[s + 2]];
    }
    return { pixels: out, width, height };
  }

  /** Runs preprocessed inputs of one size; returns the used outputs [n, C, H, W] by name. */
  async run(inputs: readonly NetworkInput[]): Promise<Record<string, RunTensor>> {
    const { width, height } = inputs[0];
    const per = 3 * width * height;
    const pixels = new Float32Array(inputs.length * per);
    inputs.forEach((x, i) => {
      if (x.width !== width || x.height !== height) {
        throw new ShapeError(
          `Inputs of one run differ in size: ${x.width}×${x.height} vs ${width}×${height}`,
        );
      }
      pixels.set(x.pixels, i * per);
    });
    return await this.#session.run(
      { [this.config.input]: { data: pixels, dims: [inputs.length, 3, height, width] } },
      this.config.outputs,
    );
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.#session.dispose();
  }
}

/** Whether every pixel of an interleaved RGB buffer has R = G = B. */
function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
}

/** Runs a zero frame and reads each output's channels and stride, checking that it is a feature map. */
async function probeLayers(
  session: OnnxSession,
  config: BackboneConfig,
  size: { width: number; height: number },
): Promise<{ name: string; channels: number; stride: number }[]> {
  const probe = new Float32Array(3 * size.width * size.height);
  const out = await session.run(
    { [config.input]: { data: probe, dims: [1, 3, size.height, size.width] } },
    config.outputs,
  );
  return config.outputs.map((name) => {
    const dims = out[name].dims;
    if (dims.length !== 4 || dims[0] !== 1 || !(out[name].data instanceof Float32Array)) {
      throw new ConfigError(`Backbone output ${name} is not a float [N,C,H,W] feature map: got [${dims}]`);
    }
    const stride = size.height / dims[2];
    if (!Number.isInteger(stride) || size.width / dims[3] !== stride) {
      throw new ConfigError(
        `Backbone output ${name} is ${dims[2]}×${dims[3]}, which does not divide the input ` +
          `${size.height}×${size.width} evenly: use an input size that is a multiple of the stride`,
      );
    }
    return { name, channels: dims[1], stride };
  });
}

/**
 * Opens an ONNX feature extractor: the backbone plus the patch head (neighbourhood pooling,
 * per-layer normalisation, a common grid; see patch_features.ts).
 *
 * @param config a validated backbone config, or the path of its JSON file
 * @param opts input geometry, layers, grid, pooling and session options
 * @returns the extractor
 * @throws {ConfigError} when the description, the model, or the options are invalid
 *
 * @example The proxy backbone as the baseline uses it
 * ```ts ignore
 * const extractor = await openOnnxExtractor("../shared/models/proxy/backbone.json");
 * const features = await extractor.extract([frame]);
 * console.log(features.gridH, features.gridW, features.dim); // 14 14 128
 * await extractor.dispose();
 * ```
 */
export async function openOnnxExtractor(
  config: BackboneConfig | string,
  opts: OnnxExtractorOptions = {},
): Promise<FeatureExtractor> {
  const cfg = typeof config === "string" ? await loadBackboneConfig(config) : config;
  const chosen: { name: string; weight?: number }[] = opts.layers ?? cfg.outputs.map((name) => ({ name }));
  for (const l of chosen) {
    if (!cfg.outputs.includes(l.name)) {
      throw new ConfigError(
        `Layer ${l.name} is not among backbone ${cfg.name}'s outputs: ${cfg.outputs.join(", ")}`,
      );
    }
  }
  const backbone = await OnnxBackbone.open({ ...cfg, outputs: chosen.map((l) => l.name) }, opts);
  let head: PatchHead;
  try {
    const layers: PatchLayer[] = chosen.map((l) => {
      const measured = backbone.layers.find((m) => m.name === l.name)!;
      return { ...measured, weight: l.weight };
    });
    const gridStride = opts.gridStride ?? Math.max(...layers.map((l) => l.stride));
    head = await PatchHead.open(
      { layers, gridStride, pool: opts.pool },
      { device: opts.device, threads: opts.threads, log: opts.log ?? (() => {}) },
    );
  } catch (error) {
    await backbone.dispose();
    throw error;
  }
  return new OnnxExtractor(backbone, head, opts.batch ?? 8);
}

class OnnxExtractor implements FeatureExtractor {
  readonly name: string;
  readonly inputSize: { width: number; height: number } | undefined;
  readonly #backbone: OnnxBackbone;
  readonly #head: PatchHead;
  readonly #batch: number;

  constructor(backbone: OnnxBackbone, head: PatchHead, batch: number) {
    this.name = backbone.config.name;
    this.inputSize = backbone.inputSize;
    this.#backbone = backbone;
    this.#head = head;
    this.#batch = Math.max(1, Math.floor(batch));
  }

  prepare(image: Rgb8Image): Rgb8Image {
    return this.#backbone.resize(image);
  }

  async extract(images: readonly Rgb8Image[]): Promise<PatchFeatures> {
    return concatFeatures(await this.extractEach(images));
  }

  async extractEach(images: readonly Rgb8Image[]): Promise<PatchFeatures[]> {
    if (images.length === 0) throw new ShapeError("Feature extraction needs at least one image");
    const inputs = images.map((img) => this.#backbone.preprocess(img));
    // Frames of one input size run together; each frame's features are returned in input order.
    const out: PatchFeatures[] = new Array(images.length);
    const bySize = new Map<string, number[]>();
    inputs.forEach((x, i) => {
      const key = `${x.width}x${x.height}`;
      bySize.set(key, [...bySize.get(key) ?? [], i]);
    });
    for (const indices of bySize.values()) {
      for (let at = 0; at < indices.length; at += this.#batch) {
        const part = indices.slice(at, at + this.#batch);
        const features = await this.#head.run(await this.#backbone.run(part.map((i) => inputs[i])));
        const per = features.gridH * features.gridW * features.dim;
        part.forEach((i, j) => {
          out[i] = { ...features, n: 1, data: features.data.slice(j * per, (j + 1) * per) };
        });
      }
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.#backbone.dispose();
    await this.#head.dispose();
  }
}

/** Options for {@linkcode clipExtractor}. */
export interface ClipExtractorOptions {
  /** Vision blocks (0-based) whose tokens are concatenated per patch. */
  blocks: number[];
  /**
   * Frames are shorter-side scaled and centre-cropped (`crop`, CLIP's own) or squashed whole.
   * @default {"resize"}
   */
  mode?: "crop" | "resize";
  /** Frames per vision run. @default {8} */
  batch?: number;
}

/**
 * Patch features from CLIP block tokens (as `ClipModel.runVision` returns them, [n, 1+grid², width]
 * per block): the class token dropped, each block's patch token L2-normalised, the blocks
 * concatenated and normalised again. Shared by the extractor and the scorer, which gets these tokens
 * from the same vision run as the image features.
 *
 * @param model the CLIP the tokens came from (for its grid and width)
 * @param tokens one array per block
 * @param n images
 * @returns the patch features
 */
export function clipPatchFeatures(
  model: ClipModel,
  tokens: readonly Float32Array[],
  n: number,
): PatchFeatures {
  const { imageSize, patchSize, width } = model.config.vision;
  const grid = imageSize / patchSize, cells = grid * grid, dim = width * tokens.length;
  const data = new Float32Array(n * cells * dim);
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < cells; c++) {
      const out = (j * cells + c) * dim;
      tokens.forEach((t, b) => {
        // Token 0 is the class token; patch c is token 1 + c.
        const from = (j * (cells + 1) + 1 + c) * width;
        normaliseInto(t.subarray(from, from + width), data, out + b * width);
      });
      normaliseInto(data.subarray(out, out + dim), data, out);
    }
  }
  return { n, gridH: grid, gridW: grid, dim, data };
}

/**
 * A feature extractor over CLIP vision tokens: each block's patch tokens (the class token dropped)
 * L2-normalised, concatenated, normalised again, on the model's patch grid.
 *
 * @param model a loaded CLIP
 * @param opts the blocks to use
 * @returns the extractor (disposing it leaves the model open)
 * @throws {ConfigError} when no block is given or a block does not exist
 */
export function clipExtractor(model: ClipModel, opts: ClipExtractorOptions): FeatureExtractor {
  const { imageSize, patchSize, layers, width } = model.config.vision;
  if (opts.blocks.length === 0) throw new ConfigError("CLIP extractor needs at least one block");
  for (const b of opts.blocks) {
    if (!Number.isInteger(b) || b < 0 || b >= layers) {
      throw new ConfigError(`CLIP block ${b} does not exist: the vision tower has blocks 0–${layers - 1}`);
    }
  }
  const grid = imageSize / patchSize;
  const batch = Math.max(1, Math.floor(opts.batch ?? 8));
  const mode = opts.mode ?? "resize";
  const { mean, std } = model.config.preprocess;
  const extract = async (images: readonly Rgb8Image[]): Promise<PatchFeatures> => {
    if (images.length === 0) throw new ShapeError("Feature extraction needs at least one image");
    const cells = grid * grid, dim = width * opts.blocks.length;
    const data = new Float32Array(images.length * cells * dim);
    const per = 3 * imageSize * imageSize;
    for (let i = 0; i < images.length; i += batch) {
      const part = images.slice(i, i + batch);
      const pixels = new Float32Array(part.length * per);
      part.forEach((img, j) => pixels.set(preprocessRgb(img, { size: imageSize, mode, mean, std }), j * per));
      const tokens = await model.imageTokens(pixels, part.length, opts.blocks);
      data.set(clipPatchFeatures(model, tokens, part.length).data, i * cells * dim);
    }
    return { n: images.length, gridH: grid, gridW: grid, dim, data };
  };
  return {
    name: `clip-${model.hash.slice(0, 12)}-blocks-${opts.blocks.join("-")}`,
    inputSize: { width: imageSize, height: imageSize },
    prepare(image: Rgb8Image): Rgb8Image {
      if (mode === "crop") {
        return resizeBicubic(image, clipResizeGeometry(image.width, image.height, { size: imageSize, mode }));
      }
      return resizeBicubic(image, { width: imageSize, height: imageSize });
    },
    extract,
    async extractEach(images: readonly Rgb8Image[]): Promise<PatchFeatures[]> {
      return splitFeatures(await extract(images));
    },
    async dispose(): Promise<void> {},
  };
}

/** One {@linkcode PatchFeatures} per image, each a view of `features.data` (nothing is copied). */
export function splitFeatures(features: PatchFeatures): PatchFeatures[] {
  const per = features.gridH * features.gridW * features.dim;
  return Array.from({ length: features.n }, (_, i) => ({
    ...features,
    n: 1,
    data: features.data.subarray(i * per, (i + 1) * per),
  }));
}

/** Writes v/‖v‖ at `out[at…]` (v may alias the destination). */
function normaliseInto(v: Float32Array, out: Float32Array, at: number): void {
  let sq = 0;
  for (let k = 0; k < v.length; k++) sq += v[k] * v[k];
  const inv = 1 / Math.sqrt(sq + 1e-12);
  for (let k = 0; k < v.length; k++) out[at + k] = v[k] * inv;
}

/**
 * Concatenates patch features of the same grid and width along the image axis.
 *
 * @throws {ShapeError} when grids or widths differ
 */
export function concatFeatures(parts: readonly PatchFeatures[]): PatchFeatures {
  if (parts.length === 1) return parts[0];
  const [first] = parts;
  let n = 0;
  for (const p of parts) {
    if (p.gridH !== first.gridH || p.gridW !== first.gridW || p.dim !== first.dim) {
      throw new ShapeError(
        `Patch features differ: ${p.gridH}×${p.gridW}×${p.dim} vs ${first.gridH}×${first.gridW}×${first.dim}`,
      );
    }
    n += p.n;
  }
  const data = new Float32Array(n * first.gridH * first.gridW * first.dim);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { n, gridH: first.gridH, gridW: first.gridW, dim: first.dim, data };
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
