/**
 * Named CLIP architectures (shapes only; weights live in checkpoints). Sizes follow OpenCLIP's
 * `model_configs/*.json`; every public CLIP uses an MLP of 4·width, LayerNorm eps 1e-5, a
 * 77-token context and the 49408-entry BPE vocabulary.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { type Activation, CLIP_MEAN, CLIP_STD, type ClipConfig } from "./config.ts";

interface _Shape {
  imageSize: number;
  patchSize: number;
  visionWidth: number;
  visionLayers: number;
  visionHeads: number;
  textWidth: number;
  textLayers: number;
  textHeads: number;
  embedDim: number;
  activation: Activation;
}

function _clip(s: _Shape): ClipConfig {
  return {
    embedDim: s.embedDim,
    activation: s.activation,
    vision: {
      imageSize: s.imageSize,
      patchSize: s.patchSize,
      width: s.visionWidth,
      layers: s.visionLayers,
      heads: s.visionHeads,
      mlpWidth: 4 * s.visionWidth,
      layerNormEps: 1e-5,
    },
    text: {
      contextLength: 77,
      vocabSize: 49408,
      width: s.textWidth,
      layers: s.textLayers,
      heads: s.textHeads,
      mlpWidth: 4 * s.textWidth,
      layerNormEps: 1e-5,
    },
    preprocess: { mean: [...CLIP_MEAN], std: [...CLIP_STD] },
  };
}

const TINY: Omit<_Shape, "activation"> = {
  imageSize: 96,
  patchSize: 16,
  visionWidth: 128,
  visionLayers: 3,
  visionHeads: 2,
  textWidth: 128,
  textLayers: 3,
  textHeads: 4,
  embedDim: 64,
};

/** The name of a registered architecture. */
export type ArchitectureName =
  | "vit-b-16"
  | "vit-b-16-plus-240"
  | "vit-l-14"
  | "vit-h-14"
  | "tiny"
  | "tiny-gelu";

const ARCHITECTURES = {
  /** OpenAI ViT-B/16 (OpenCLIP `ViT-B-16-quickgelu`). */
  "vit-b-16": _clip({
    imageSize: 224,
    patchSize: 16,
    visionWidth: 768,
    visionLayers: 12,
    visionHeads: 12,
    textWidth: 512,
    textLayers: 12,
    textHeads: 8,
    embedDim: 512,
    activation: "quick_gelu",
  }),
  /** OpenCLIP `ViT-B-16-plus-240` (LAION-400M): head width 64 in both towers. */
  "vit-b-16-plus-240": _clip({
    imageSize: 240,
    patchSize: 16,
    visionWidth: 896,
    visionLayers: 12,
    visionHeads: 14,
    textWidth: 640,
    textLayers: 12,
    textHeads: 10,
    embedDim: 640,
    activation: "gelu",
  }),
  /** OpenAI ViT-L/14 (OpenCLIP `ViT-L-14-quickgelu`). */
  "vit-l-14": _clip({
    imageSize: 224,
    patchSize: 14,
    visionWidth: 1024,
    visionLayers: 24,
    visionHeads: 16,
    textWidth: 768,
    textLayers: 12,
    textHeads: 12,
    embedDim: 768,
    activation: "quick_gelu",
  }),
  /** OpenCLIP `ViT-H-14` (LAION-2B): vision head width 80, not 64. */
  "vit-h-14": _clip({
    imageSize: 224,
    patchSize: 14,
    visionWidth: 1280,
    visionLayers: 32,
    visionHeads: 16,
    textWidth: 1024,
    textLayers: 24,
    textHeads: 16,
    embedDim: 1024,
    activation: "gelu",
  }),
  /** The shape of the oracle fixtures in `shared/fixtures/clip-oracle`, with QuickGELU. */
  "tiny": _clip({ ...TINY, activation: "quick_gelu" }),
  /** The same shape with exact GELU. */
  "tiny-gelu": _clip({ ...TINY, activation: "gelu" }),
} as const satisfies Record<ArchitectureName, ClipConfig>;

/**
 * The registered architecture names.
 *
 * @returns the names in registration order
 *
 * @example
 * ```ts
 * import { listArchitectures } from "./architectures.ts";
 * if (!listArchitectures().includes("vit-b-16")) throw new Error("Missing vit-b-16");
 * ```
 */
export function listArchitectures(): ArchitectureName[] {
  return Object.keys(ARCHITECTURES) as ArchitectureName[];
}

/**
 * Whether a string names a registered architecture.
 *
 * @example
 * ```ts
 * import { isArchitectureName } from "./architectures.ts";
 * if (!isArchitectureName("tiny") || isArchitectureName("vit-z")) throw new Error("Unexpected");
 * ```
 */
export function isArchitectureName(name: string): name is ArchitectureName {
  return Object.hasOwn(ARCHITECTURES, name);
}

/**
 * A registered architecture's config, as a fresh copy the caller may modify.
 *
 * @param name a registered name, e.g. `vit-b-16`
 * @throws {ConfigError} when the name is unknown
 *
 * @example
 * ```ts
 * import { getArchitecture } from "./architectures.ts";
 * const cfg = getArchitecture("vit-h-14");
 * if (cfg.vision.width / cfg.vision.heads !== 80) throw new Error("Unexpected head width");
 * ```
 */
export function getArchitecture(name: string): ClipConfig {
  if (!isArchitectureName(name)) {
    throw new ConfigError(
      `Unknown architecture "${name}": expected one of ${listArchitectures().join(", ")}`,
    );
  }
  return structuredClone(ARCHITECTURES[name]) as ClipConfig;
}
