/**
 * The typed CLIP architecture. Raw JSON becomes this type in `parseClipConfig` (see
 * `config_parse.ts`) and nowhere else.
 *
 * @module
 */

/** The MLP activation: OpenAI's models use QuickGELU (`x·σ(1.702x)`), OpenCLIP's LAION models exact GELU. */
export type Activation = "quick_gelu" | "gelu";

/** The image tower's shape. */
export interface ClipVisionConfig {
  /** Input side in pixels (square). */
  imageSize: number;
  /** Patch side in pixels; the grid is imageSize / patchSize. */
  patchSize: number;
  /** Residual stream width. */
  width: number;
  /** Number of residual blocks. */
  layers: number;
  /** Attention heads; width / heads is the head width (64 for OpenAI's models). */
  heads: number;
  /** Hidden width of each MLP (4·width for every public CLIP). */
  mlpWidth: number;
  /** LayerNorm epsilon (1e-5 everywhere in CLIP). */
  layerNormEps: number;
}

/** The text tower's shape. */
export interface ClipTextConfig {
  /** Maximum tokens including start and end (77). */
  contextLength: number;
  /** BPE vocabulary size (49408). */
  vocabSize: number;
  /** Residual stream width. */
  width: number;
  /** Number of residual blocks. */
  layers: number;
  /** Attention heads (64-wide for OpenAI's models). */
  heads: number;
  /** Hidden width of each MLP (4·width for every public CLIP). */
  mlpWidth: number;
  /** LayerNorm epsilon (1e-5 everywhere in CLIP). */
  layerNormEps: number;
}

/** Preprocessing constants that travel with the weights. */
export interface ClipPreprocessConfig {
  /** Per-channel mean (R, G, B) subtracted from pixels scaled to [0, 1]. */
  mean: [number, number, number];
  /** Per-channel standard deviation (R, G, B) the result is divided by. */
  std: [number, number, number];
}

/** A complete CLIP architecture. */
export interface ClipConfig {
  /** Joint embedding width. */
  embedDim: number;
  /** The MLP activation of both towers. */
  activation: Activation;
  /** The image tower's shape. */
  vision: ClipVisionConfig;
  /** The text tower's shape. */
  text: ClipTextConfig;
  /** The normalisation the weights were trained with. */
  preprocess: ClipPreprocessConfig;
}

/** OpenAI's CLIP normalisation constants, the default for every public checkpoint. */
export const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/** OpenAI's CLIP per-channel standard deviations, the default for every public checkpoint (see {@linkcode CLIP_MEAN}). */
export const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
