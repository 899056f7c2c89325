/**
 * Stable Diffusion 2.x's text conditioning with the project's own text graph: OpenCLIP's text tower
 * through its penultimate block, then `ln_final`, at all 77 positions, the ids zero-padded as
 * OpenCLIP's tokenizer pads them. A learned concept is injected exactly as for CLIP scoring: where
 * the placeholder word's token stands, the concept vector replaces its embedding.
 *
 * @module
 */
import { type ClipTokenizer, loadTokenizer, openTextCheckpoint, type TextCheckpoint } from "../clip/mod.ts";
import { buildTextConditioningGraph, cachedGraphPath, isCached, storeGraph } from "../model/mod.ts";
import { createSession, type Device, type OnnxSession } from "../onnx/mod.ts";
import { ShapeError } from "../errors.ts";

/** Options of {@linkcode openTextConditioner}. */
export interface TextConditionerOptions {
  device?: Device;
  threads?: number;
  /** Where the built graph is cached. */
  cacheDir: string;
  log: (line: string) => void;
}

/** The conditioning half of the text tower on an onnxruntime session. */
export class TextConditioner {
  /** The text tower's architecture. */
  readonly config: TextCheckpoint["config"];
  readonly tokenizer: ClipTokenizer;
  readonly #session: OnnxSession;

  /** Wraps an open session; {@linkcode openTextConditioner} makes one. */
  constructor(config: TextCheckpoint["config"], tokenizer: ClipTokenizer, session: OnnxSession) {
    this.config = config;
    this.tokenizer = tokenizer;
    this.#session = session;
  }

  /**
   * Hidden states [prompts.length, contextLength, width]; with `personalise`, the single-token word
   * `placeholder` is spoken as `concept` [width] wherever it occurs.
   *
   * @throws {TokenizerError} when the placeholder is not one token
   * @throws {ShapeError} when the concept is not as wide as the text tower
   */
  async encode(
    prompts: readonly string[],
    personalise?: { placeholder: string; concept: Float32Array },
  ): Promise<Float32Array> {
    const { contextLength, width } = this.config.text;
    if (personalise && personalise.concept.length !== width) {
      throw new ShapeError(`Concept has ${personalise.concept.length} values, the text width is ${width}`);
    }
    const placeholderId = personalise ? this.tokenizer.tokenId(personalise.placeholder) : -1;
    const ids = this.tokenizer.tokenize(prompts, { contextLength });
    const n = ids.length;
    // Zero-padded to the full context, as SD's tokenizer pads (id 0 is "!"; causal attention keeps
    // the padding from changing the prompt's positions, but the UNet attends to all 77).
    const inputIds = new BigInt64Array(n * contextLength);
    const conceptMask = new Float32Array(n * contextLength);
    ids.forEach((row, i) =>
      row.forEach((id, j) => {
        inputIds[i * contextLength + j] = BigInt(id);
        if (id === placeholderId) conceptMask[i * contextLength + j] = 1;
      })
    );
    const out = await this.#session.run({
      input_ids: { data: inputIds, dims: [n, contextLength] },
      concept_mask: { data: conceptMask, dims: [n, contextLength] },
      concept: { data: personalise?.concept ?? new Float32Array(width), dims: [width] },
    }, ["hidden_states"]);
    return out.hidden_states.data as Float32Array;
  }

  /** Releases the session. */
  async release(): Promise<void> {
    await this.#session.dispose();
  }
}

/**
 * How many blocks SD 2.x's conditioning runs: OpenCLIP's penultimate layer, which is every block of a
 * diffusers text encoder (a text-only CLIPTextModel, converted without the last block) and every
 * block but the last of a whole CLIP checkpoint.
 */
export function conditioningBlocks(checkpoint: Pick<TextCheckpoint, "textOnly" | "config">): number {
  const layers = checkpoint.config.text.layers;
  return checkpoint.textOnly ? layers : layers - 1;
}

/**
 * Opens the text encoder in `textDir` (a whole CLIP checkpoint in any layout the CLIP loader reads,
 * or a Hugging Face CLIPTextModel alone, as diffusers ships SD's `text_encoder/`) with the
 * tokenizer in `tokenizerDir`, building the conditioning graph once per weights hash.
 *
 * @throws {WeightsError} when the checkpoint is missing or broken
 * @throws {TokenizerError} when the vocabulary is
 */
export async function openTextConditioner(
  textDir: string,
  tokenizerDir: string,
  opts: TextConditionerOptions,
): Promise<TextConditioner> {
  const tokenizer = await loadTokenizer(tokenizerDir);
  using checkpoint = await openTextCheckpoint(textDir);
  for (const warning of checkpoint.warnings) opts.log(`warning: ${warning}`);
  const hash = await checkpoint.hash(opts.cacheDir);
  const path = cachedGraphPath(opts.cacheDir, hash, `sd-conditioning-${conditioningBlocks(checkpoint)}`);
  if (!(await isCached(path))) {
    const started = performance.now();
    const graph = buildTextConditioningGraph(
      checkpoint.config,
      await checkpoint.readTextWeights(),
      conditioningBlocks(checkpoint),
    );
    await storeGraph(path, graph, `SD text conditioning graph of ${textDir} (sha256 ${hash})`);
    opts.log(
      `built the text conditioning graph in ${((performance.now() - started) / 1000).toFixed(1)} s: ${path}`,
    );
  }
  const session = await createSession(path, {
    device: opts.device,
    threads: opts.threads,
    log: opts.log,
    label: "the SD text conditioning graph",
  });
  return new TextConditioner(checkpoint.config, tokenizer, session);
}
