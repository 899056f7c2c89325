/**
 * A Stable Diffusion model folder opened on an execution provider: the text conditioning (the
 * project's own text graph), the UNet and the VAE's two halves (ONNX exports, or the tiny random
 * ones), behind the few calls an SDEdit pipeline makes. Exports differ in small ways that are read
 * from the models themselves: the timestep's element type and length, float16 or float32 inputs,
 * and the VAE encoder's output name.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, ErrorCode, ProcessorError, ShapeError, WeightsError } from "../errors.ts";
import { createSession, type Device, type OnnxSession, type Provider, type RunTensor } from "../onnx/mod.ts";
import { defaultCacheDir, type Precision } from "../model/mod.ts";
import {
  parseSchedulerConfig,
  readModelJson,
  scalingFactorOf,
  SD_LAYOUT,
  type StableDiffusionConfig,
} from "./config.ts";
import { openTextConditioner, type TextConditioner } from "./conditioning.ts";

/** Options of {@linkcode loadStableDiffusion}. */
export interface LoadStableDiffusionOptions {
  /** Where the sessions run; `auto` picks CUDA when it works. @default "auto" */
  device?: Device;
  /**
   * `fp16` or `fp32`: what the pipeline expects the exports to run in. The folder's exports decide
   * (a float16 export is fed float16); a mismatch is logged. @default fp16 on CUDA, else fp32
   */
  precision?: Precision;
  /** Where the text conditioning graph is cached. @default the CLIP graph cache */
  cacheDir?: string;
  /** CPU threads for onnxruntime. @default all cores */
  threads?: number;
  /** Provider and build lines. @default console.error */
  log?: (line: string) => void;
}

/** NCHW dims. */
export type Dims4 = readonly [number, number, number, number];

/** A loaded Stable Diffusion model. */
export interface StableDiffusion {
  /** The model's shapes and scheduler. */
  readonly config: StableDiffusionConfig;
  /** What the UNet runs in (its `sample` input's element type). */
  readonly precision: Precision;
  /** The provider the UNet runs on. */
  readonly provider: Provider;
  /** UNet conditioning [n, 77, D]; with personalise, the placeholder word's embedding is the concept. */
  conditioning(
    prompts: string[],
    personalise?: { placeholder: string; concept: Float32Array },
  ): Promise<Float32Array>;
  /** The UNet's raw output (v or ε as config.scheduler.predictionType says) for latents [n,c,h,w] at one timestep. */
  predict(
    latents: Float32Array,
    dims: Dims4,
    timestep: number,
    conditioning: Float32Array,
  ): Promise<Float32Array>;
  /** The VAE posterior mean [n,c,H/8,W/8] (unscaled) of images in [-1,1] [n,3,H,W]. */
  encode(pixels: Float32Array, dims: Dims4): Promise<Float32Array>;
  /** Images [n,3,8h,8w] in about [-1,1] from unscaled latents [n,c,h,w]. */
  decode(latents: Float32Array, dims: Dims4): Promise<Float32Array>;
  /** Releases every session. */
  release(): Promise<void>;
}

/**
 * Opens a Stable Diffusion folder in the layout `adp models pull` writes (see {@linkcode SD_LAYOUT}).
 *
 * @throws {WeightsError} WEIGHTS_MISSING when a part is missing, naming it: callers fall back on it
 * @throws {ConfigError} for a malformed config file or parts that do not fit together
 */
export async function loadStableDiffusion(
  dir: string,
  opts: LoadStableDiffusionOptions = {},
): Promise<StableDiffusion> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const device = opts.device ?? "auto";
  if (opts.precision === "int8") throw new ConfigError("Stable Diffusion runs in fp16 or fp32, not int8");
  await readModelJson(dir, SD_LAYOUT.modelIndex);
  const scheduler = parseSchedulerConfig(
    await readModelJson(dir, SD_LAYOUT.scheduler),
    join(dir, SD_LAYOUT.scheduler),
  );
  const scalingFactor = scalingFactorOf(
    await readModelJson(dir, SD_LAYOUT.vaeConfig, { optional: true }),
    join(dir, SD_LAYOUT.vaeConfig),
  );
  for (const part of [SD_LAYOUT.unet, SD_LAYOUT.vaeEncoder, SD_LAYOUT.vaeDecoder]) {
    await requireFile(join(dir, part));
  }
  const sessionOpts = { device, threads: opts.threads, log };
  const sessions: OnnxSession[] = [];
  let text: TextConditioner | undefined;
  try {
    text = await openTextConditioner(join(dir, SD_LAYOUT.textEncoder), join(dir, SD_LAYOUT.tokenizer), {
      ...sessionOpts,
      cacheDir: opts.cacheDir ?? defaultCacheDir(),
    });
    const open = async (part: string, label: string) => {
      // No provider loading it, the CPU included, means the file (or its external data) is broken.
      const session = await createSession(join(dir, part), { ...sessionOpts, label }).catch((cause) => {
        if (!(cause instanceof ProcessorError) || cause.code !== ErrorCode.DEVICE_UNAVAILABLE) throw cause;
        throw new WeightsError(`Not a usable Stable Diffusion part: ${join(dir, part)}: ${cause.message}`, {
          file: join(dir, part),
          cause,
        });
      });
      sessions.push(session);
      return session;
    };
    const unet = await open(SD_LAYOUT.unet, "the SD UNet");
    const vaeEncoder = await open(SD_LAYOUT.vaeEncoder, "the SD VAE encoder");
    const vaeDecoder = await open(SD_LAYOUT.vaeDecoder, "the SD VAE decoder");
    const { contextLength, width } = text.config.text;
    const sample = inputInfo(unet, "sample");
    const latentChannels = typeof sample.dims[1] === "number" ? sample.dims[1] : 4;
    const declaredWidth = inputInfo(unet, "encoder_hidden_states").dims[2];
    if (typeof declaredWidth === "number" && declaredWidth !== width) {
      throw new ConfigError(
        `The UNet in ${dir} attends to text of width ${declaredWidth}, the text encoder's is ${width}`,
      );
    }
    const precision: Precision = sample.type === "float16" ? "fp16" : "fp32";
    const wanted = opts.precision ?? (unet.provider === "cuda" ? "fp16" : "fp32");
    if (wanted !== precision) log(`warning: the SD exports in ${dir} run in ${precision}, not ${wanted}`);
    return new OnnxStableDiffusion({
      config: {
        latentChannels,
        vaeScaleFactor: 8,
        scalingFactor,
        contextLength,
        hiddenSize: width,
        scheduler,
      },
      precision,
      text,
      unet,
      vaeEncoder,
      vaeDecoder,
    });
  } catch (error) {
    await text?.release();
    for (const s of sessions) await s.dispose();
    throw error;
  }
}

async function requireFile(path: string): Promise<void> {
  const found = await Deno.stat(path).then((s) => s.isFile, () => false);
  if (!found) {
    throw new WeightsError(`Not a complete Stable Diffusion folder: ${path} is missing`, {
      file: path,
      code: ErrorCode.WEIGHTS_MISSING,
    });
  }
}

function inputInfo(session: OnnxSession, name: string): { type: string; dims: readonly (number | string)[] } {
  const info = session.inputTypes.get(name);
  if (!info) {
    throw new ConfigError(
      `The model has no input ${name}: its inputs are ${[...session.inputTypes.keys()].join(", ")}`,
    );
  }
  return info;
}

/** A float tensor in the element type an input declares. */
function floatFeed(data: Float32Array, dims: readonly number[], type: string): RunTensor {
  return { data: type === "float16" ? Float16Array.from(data) : data, dims };
}

function asFloat32(t: RunTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float16Array);
}

function checkLength(what: string, data: Float32Array, dims: Dims4): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new ShapeError(`${what} hold ${data.length} values, not ${dims.join("·")} = ${expected}`);
  }
}

class OnnxStableDiffusion implements StableDiffusion {
  readonly config: StableDiffusionConfig;
  readonly precision: Precision;
  readonly #text: TextConditioner;
  readonly #unet: OnnxSession;
  readonly #vaeEncoder: OnnxSession;
  readonly #vaeDecoder: OnnxSession;

  constructor(init: {
    config: StableDiffusionConfig;
    precision: Precision;
    text: TextConditioner;
    unet: OnnxSession;
    vaeEncoder: OnnxSession;
    vaeDecoder: OnnxSession;
  }) {
    this.config = init.config;
    this.precision = init.precision;
    this.#text = init.text;
    this.#unet = init.unet;
    this.#vaeEncoder = init.vaeEncoder;
    this.#vaeDecoder = init.vaeDecoder;
  }

  get provider(): Provider {
    return this.#unet.provider;
  }

  conditioning(
    prompts: string[],
    personalise?: { placeholder: string; concept: Float32Array },
  ): Promise<Float32Array> {
    return this.#text.encode(prompts, personalise);
  }

  async predict(
    latents: Float32Array,
    dims: Dims4,
    timestep: number,
    conditioning: Float32Array,
  ): Promise<Float32Array> {
    checkLength("Latents", latents, dims);
    const [n, c] = dims;
    if (c !== this.config.latentChannels) {
      throw new ShapeError(`Latents have ${c} channels, the UNet takes ${this.config.latentChannels}`);
    }
    const { contextLength, hiddenSize } = this.config;
    checkLength("Conditioning", conditioning, [n, contextLength, hiddenSize, 1]);
    const sample = inputInfo(this.#unet, "sample");
    const out = await this.#unet.run({
      sample: floatFeed(latents, dims, sample.type),
      timestep: this.#timestepFeed(timestep, n),
      encoder_hidden_states: floatFeed(
        conditioning,
        [n, contextLength, hiddenSize],
        inputInfo(this.#unet, "encoder_hidden_states").type,
      ),
    }, ["out_sample"]);
    return asFloat32(out.out_sample);
  }

  /**
   * The timestep as the export declares it: Optimum's int64 [steps], the older diffusers script's
   * float [1]; one value per sample unless the length is fixed at 1.
   */
  #timestepFeed(timestep: number, n: number): RunTensor {
    const { type, dims } = inputInfo(this.#unet, "timestep");
    const length = dims.length === 0 ? 0 : dims[0] === 1 ? 1 : n;
    const shape = dims.length === 0 ? [] : [length];
    const count = Math.max(length, 1);
    if (type === "int64") {
      return { data: new BigInt64Array(count).fill(BigInt(Math.round(timestep))), dims: shape };
    }
    return floatFeed(new Float32Array(count).fill(timestep), shape, type);
  }

  async encode(pixels: Float32Array, dims: Dims4): Promise<Float32Array> {
    checkLength("Pixels", pixels, dims);
    const [n, channels, height, width] = dims;
    const f = this.config.vaeScaleFactor;
    if (channels !== 3 || height % f !== 0 || width % f !== 0) {
      throw new ShapeError(
        `The VAE encodes [n, 3, H, W] with H and W multiples of ${f}, not [${dims.join(", ")}]`,
      );
    }
    const info = inputInfo(this.#vaeEncoder, "sample");
    const out = await this.#vaeEncoder.run({ sample: floatFeed(pixels, dims, info.type) });
    // Recent Optimum: `latent_parameters` = mean ‖ log-variance; older: `latent_sample`, one draw.
    const moments = out.latent_parameters ?? out.latent_sample;
    if (!moments) {
      throw new ConfigError(`The VAE encoder returns ${Object.keys(out).join(", ")}, not latent_parameters`);
    }
    const values = asFloat32(moments);
    const c = this.config.latentChannels, plane = (height / f) * (width / f);
    const stored = moments.dims[1];
    const mean = new Float32Array(n * c * plane);
    for (let i = 0; i < n; i++) {
      mean.set(values.subarray(i * stored * plane, (i * stored + c) * plane), i * c * plane);
    }
    return mean;
  }

  async decode(latents: Float32Array, dims: Dims4): Promise<Float32Array> {
    checkLength("Latents", latents, dims);
    const info = inputInfo(this.#vaeDecoder, "latent_sample");
    const out = await this.#vaeDecoder.run({ latent_sample: floatFeed(latents, dims, info.type) }, [
      "sample",
    ]);
    return asFloat32(out.sample);
  }

  async release(): Promise<void> {
    await this.#text.release();
    for (const s of [this.#unet, this.#vaeEncoder, this.#vaeDecoder]) await s.dispose();
  }
}
