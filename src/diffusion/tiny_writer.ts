/**
 * A tiny random Stable Diffusion folder in the layout `adp models pull` writes for SD 2.1: the tiny
 * CLIP's text tower as the text encoder, a small vocabulary, the tiny UNet and VAE (see
 * `tiny_graphs.ts`), SD 2.1's scheduler config and the VAE's scaling factor. For CI and demos: every
 * step of the pipeline runs in a second on two cores; the images it makes mean nothing.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { getArchitecture, writeRandomCheckpoint, writeTinyVocabulary } from "../clip/mod.ts";
import { type GraphBuilder, serializeOnnxModel, writeOnnxModel } from "../onnx/mod.ts";
import {
  parseSchedulerConfig,
  SD21_SCHEDULER,
  SD_LAYOUT,
  SD_SCALING_FACTOR,
  SD_UNET_DATA,
  type StableDiffusionConfig,
} from "./config.ts";
import { buildTinyUnet, buildTinyVaeDecoder, buildTinyVaeEncoder, LATENT_CHANNELS } from "./tiny_graphs.ts";

/** The text encoder is this CLIP architecture's text tower (width 128, 77 positions). */
const TEXT_ARCH = "tiny";

/**
 * Words the tiny vocabulary makes single tokens: the textual-inversion placeholder and initial word
 * the enrollment uses (`sks`, `object`; see src/adp/text/prompts.ts) and the words of SDEdit prompts.
 */
const TINY_WORDS = ["sks", "object", "a", "photo", "of", "the", "damaged", "with", "damage", "flawless"];

/** Options of {@linkcode writeTinyStableDiffusion}. */
export interface TinyStableDiffusionOptions {
  /** Seed of every weight. @default 0 */
  seed?: number;
}

/** What {@linkcode writeTinyStableDiffusion} wrote. */
export interface TinyStableDiffusion {
  /** The model folder. */
  dir: string;
  /** The config {@linkcode loadStableDiffusion} will report for it. */
  config: StableDiffusionConfig;
  /** Every file written, relative to `dir`. */
  files: string[];
}

/**
 * Writes a tiny random Stable Diffusion model into `dir` (created if needed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeTinyStableDiffusion } from "./tiny_writer.ts";
 * const dir = await Deno.makeTempDir();
 * const tiny = await writeTinyStableDiffusion(dir, { seed: 1 });
 * assert.equal(tiny.config.hiddenSize, 128);
 * assert.ok(tiny.files.includes("unet/model.onnx"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeTinyStableDiffusion(
  dir: string,
  opts: TinyStableDiffusionOptions = {},
): Promise<TinyStableDiffusion> {
  const seed = opts.seed ?? 0;
  const arch = getArchitecture(TEXT_ARCH);
  const { width: contextWidth, contextLength } = arch.text;
  const json = async (relative: string, value: unknown) => {
    await Deno.mkdir(dirname(join(dir, relative)), { recursive: true });
    await Deno.writeTextFile(join(dir, relative), JSON.stringify(value, null, 2) + "\n");
  };
  // The UNet's weights beside it as Optimum writes them (model.onnx_data); the VAE's inline, as
  // Optimum leaves models under 2 GB.
  const onnx = async (relative: string, graph: GraphBuilder, externalData?: string) => {
    const path = join(dir, relative);
    await Deno.mkdir(dirname(path), { recursive: true });
    const docString = `tiny random SD part, seed ${seed}`;
    if (externalData) await writeOnnxModel(graph, path, { docString, externalData });
    else await Deno.writeFile(path, await serializeOnnxModel(graph, { docString }));
  };
  await json(SD_LAYOUT.modelIndex, {
    _class_name: "ORTStableDiffusionPipeline",
    _diffusers_version: "0.29.0",
    scheduler: ["diffusers", "DDIMScheduler"],
    text_encoder: ["transformers", "CLIPTextModel"],
    tokenizer: ["transformers", "CLIPTokenizer"],
    unet: ["diffusers", "OnnxRuntimeModel"],
    vae_decoder: ["diffusers", "OnnxRuntimeModel"],
    vae_encoder: ["diffusers", "OnnxRuntimeModel"],
  });
  await json(SD_LAYOUT.scheduler, SD21_SCHEDULER);
  const vaeConfig = {
    _class_name: "AutoencoderKL",
    latent_channels: LATENT_CHANNELS,
    scaling_factor: SD_SCALING_FACTOR,
  };
  await json(SD_LAYOUT.vaeConfig, vaeConfig);
  await json("vae_encoder/config.json", vaeConfig);
  await json("unet/config.json", {
    _class_name: "UNet2DConditionModel",
    in_channels: LATENT_CHANNELS,
    out_channels: LATENT_CHANNELS,
    cross_attention_dim: contextWidth,
  });

  // The tiny CLIP's text tower with a token embedding only as long as the small vocabulary.
  const vocabSize = await writeTinyVocabulary(join(dir, SD_LAYOUT.tokenizer), TINY_WORDS);
  await writeRandomCheckpoint(join(dir, SD_LAYOUT.textEncoder), {
    arch: { ...arch, text: { ...arch.text, vocabSize } },
    layout: "hf",
    seed,
    textOnly: true,
  });

  await onnx(
    SD_LAYOUT.unet,
    buildTinyUnet({ contextWidth, contextLength, seed }),
    SD_UNET_DATA,
  );
  await onnx(SD_LAYOUT.vaeEncoder, buildTinyVaeEncoder({ seed }));
  await onnx(SD_LAYOUT.vaeDecoder, buildTinyVaeDecoder({ seed }));
  return {
    dir,
    files: await filesUnder(dir),
    config: {
      latentChannels: LATENT_CHANNELS,
      vaeScaleFactor: 8,
      scalingFactor: SD_SCALING_FACTOR,
      contextLength,
      hiddenSize: contextWidth,
      scheduler: parseSchedulerConfig(SD21_SCHEDULER, SD_LAYOUT.scheduler),
    },
  };
}

/** Every file under `root`, relative to it, sorted. */
async function filesUnder(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(root, prefix))) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) out.push(...await filesUnder(root, relative));
    else out.push(relative);
  }
  return out.sort();
}
