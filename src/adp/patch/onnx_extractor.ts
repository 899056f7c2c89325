/**
 * The ONNX feature extractor: any network that outputs [N,C,H,W] feature maps, described by a
 * backbone JSON (backbone_config.ts). {@linkcode OnnxBackbone} resizes and normalises frames and runs
 * the network; {@linkcode openOnnxExtractor} puts the patch head (patch_features.ts) behind it.
 *
 * @module
 */
import { ConfigError, ShapeError } from "../../errors.ts";
import type { Rgb8Image } from "../../image/mod.ts";
import {
  createSession,
  type Device,
  freeSpatialDims,
  type OnnxSession,
  quantizeModelWeights,
  type RunTensor,
} from "../../onnx/mod.ts";
import { type BackboneConfig, loadBackboneConfig } from "./backbone_config.ts";
import type { FeatureExtractor } from "./feature_extractor.ts";
import { resizeFrame } from "./frame_resize.ts";
import { type IntensityMode, intensityTransform } from "./intensity.ts";
import { concatFeatures, type PatchFeatures, PatchHead, type PatchLayer } from "./patch_features.ts";

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
  /**
   * `int8`: the network's dense convolutions and matrix products run on int8 weights quantised per
   * output channel when the model is loaded (onnx/quantize_model.ts); anything else runs it as given.
   * @default {as given}
   */
  precision?: BackbonePrecision;
  /** Frames run through the backbone at once. @default {8} */
  batch?: number;
  /** Where the backbone runs. @default "auto" */
  device?: Device;
  /** CPU threads for onnxruntime. @default {all cores} */
  threads?: number;
  /** Provider lines. @default {silent} */
  log?: (line: string) => void;
}

/** How a backbone's weights are run: as the file gives them, or quantised to int8 at load. */
export type BackbonePrecision = "fp32" | "int8";

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
    opts: Pick<
      OnnxExtractorOptions,
      "inputSize" | "scale" | "intensity" | "precision" | "device" | "threads" | "log"
    > = {},
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
    const sized = nominal ? bytes : freeSpatialDims(bytes, config.input);
    const model = opts.precision === "int8" ? quantizeModelWeights(sized).model : sized;
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
    const { gain, offset } = intensityTransform(src, this.intensity);
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
