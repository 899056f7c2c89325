/**
 * A CLIP text tower from either kind of folder: a whole CLIP checkpoint (any layout
 * {@linkcode openCheckpoint} reads), or a Hugging Face `CLIPTextModel` alone (`config.json` with
 * `model_type` `clip_text_model` + `model.safetensors` holding only `text_model.*` tensors), as
 * diffusers ships Stable Diffusion's `text_encoder/`. Such a tower has no output projection: it
 * serves hidden states, not CLIP text features.
 *
 * @module
 */
import { join } from "node:path";
import { ErrorCode, WeightsError } from "../errors.ts";
import {
  canonicalTextTower,
  checkTensors,
  findWeightsFile,
  lazyCanonicalTensors,
  openCheckpoint,
  weightsSha256,
} from "./checkpoint.ts";
import { LAYOUT_NAMES, layoutTensors } from "./checkpoint_layout.ts";
import type { Activation, ClipConfig, ClipTextConfig } from "./config.ts";
import { parseHfTextConfig } from "./config_parse.ts";
import { openSafetensors } from "./safetensors.ts";
import type { TextWeights } from "./weights.ts";

/** An open text tower. `close()` (or `using`) releases the weights file. */
export interface TextCheckpoint {
  /** The text tower's shape and activation. */
  readonly config: { readonly text: ClipTextConfig; readonly activation: Activation };
  /** Whether the folder holds the text tower alone (no vision tower, no projection). */
  readonly textOnly: boolean;
  /** Guesses and disagreements found on opening, one sentence each. */
  readonly warnings: readonly string[];
  /** The weights file's sha256, remembered under `cacheDir` as for whole checkpoints. */
  hash(cacheDir?: string): Promise<string>;
  /** The text tower's weights but the projection, lazily read (while open). */
  readTextWeights(): Promise<Omit<TextWeights, "proj">>;
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * Opens the text tower in `dir`.
 *
 * @throws {WeightsError} WEIGHTS_MISSING for a missing weights file, config or tensor; otherwise for
 *   a corrupt file or a shape that disagrees with the config
 * @throws {ConfigError} for a malformed config file
 */
export async function openTextCheckpoint(dir: string): Promise<TextCheckpoint> {
  const weightsFile = await findWeightsFile(dir);
  const reader = await openSafetensors(weightsFile);
  const names = LAYOUT_NAMES.hf;
  const textOnly = reader.header.has(names.text.tokenEmbed) && !reader.header.has(names.vision.patchEmbed);
  if (!textOnly) {
    reader.close();
    const checkpoint = await openCheckpoint(dir);
    return {
      config: checkpoint.config,
      textOnly,
      warnings: checkpoint.warnings,
      hash: (cacheDir) => checkpoint.hash(cacheDir),
      readTextWeights: async () => (await checkpoint.readWeights()).text,
      close: () => checkpoint.close(),
      [Symbol.dispose]: () => checkpoint.close(),
    };
  }
  try {
    const configFile = join(dir, "config.json");
    const json = await Deno.readTextFile(configFile).then(JSON.parse, (cause) => {
      throw new WeightsError(`A text-only checkpoint needs its config: ${configFile} cannot be read`, {
        file: configFile,
        code: ErrorCode.WEIGHTS_MISSING,
        cause,
      });
    });
    const config = parseHfTextConfig(json, configFile);
    // The tensor list of a whole CLIP with no vision blocks, cut to the text tower's own tensors.
    const whole: ClipConfig = {
      embedDim: 1,
      activation: config.activation,
      vision: { imageSize: 1, patchSize: 1, width: 1, layers: 0, heads: 1, mlpWidth: 1, layerNormEps: 1 },
      text: config.text,
      preprocess: { mean: [0, 0, 0], std: [1, 1, 1] },
    };
    const tensors = layoutTensors(whole, "hf").filter((t) =>
      t.key.startsWith("text.") && t.key !== "text.proj"
    );
    const warnings: string[] = [];
    checkTensors(reader, tensors, whole, "hf", warnings);
    const close = () => reader.close();
    return {
      config,
      textOnly,
      warnings,
      hash: (cacheDir) => weightsSha256(weightsFile, cacheDir),
      readTextWeights: () =>
        Promise.resolve(canonicalTextTower(lazyCanonicalTensors(reader, tensors), config.text.layers)),
      close,
      [Symbol.dispose]: close,
    };
  } catch (error) {
    reader.close();
    throw error;
  }
}
