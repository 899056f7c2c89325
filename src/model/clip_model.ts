/**
 * A loaded CLIP: checkpoint, tokenizer and the two graphs on an execution provider, behind the
 * small API the rest of the product uses. Graphs come from the cache when the checkpoint's hash has
 * been built before.
 *
 * @module
 */
import {
  type Activation,
  type ClipConfig,
  type ClipTokenizer,
  type ClipWeights,
  loadTokenizer,
  openCheckpoint,
} from "../clip/mod.ts";
import { ShapeError, TokenizerError } from "../errors.ts";
import { normalizeRows } from "../vector.ts";
import {
  createSession,
  type Device,
  type GraphBuilder,
  type OnnxSession,
  type Provider,
} from "../onnx/mod.ts";
import { cachedGraphPath, defaultCacheDir, isCached, storeGraph } from "./graph_cache.ts";
import {
  blockTokensOutput,
  buildVisionGraph,
  PATCH_FEATURES_OUTPUT,
  patchFeatureBlocks,
  tokenOutputBlocks,
} from "./vision_tower.ts";
import { buildTextGraph } from "./text_tower.ts";
import { buildTextVjpGraph, runTextVjp } from "./text_vjp.ts";
import { defaultPrecision, type Precision } from "./precision.ts";

/** Options for {@linkcode loadClip}. */
export interface LoadClipOptions {
  /** Where the sessions run; `auto` picks CUDA when it works, else the CPU. @default "auto" */
  device?: Device;
  /** Where built graphs are kept; @default {@linkcode defaultCacheDir} */
  cacheDir?: string;
  /** A tokenizer vocabulary (file or directory) other than the one in the model directory. */
  vocab?: string;
  /** Overrides the activation when the folder has no config file (weights alone cannot tell). */
  activation?: Activation;
  /**
   * Of the vision graph (`int8` or `fp16` trade a little accuracy for speed); the text graphs stay
   * float32. @default {@linkcode defaultPrecision} of the device
   */
  precision?: Precision;
  /** CPU threads for onnxruntime; @default all cores */
  threads?: number;
  /** Progress and provider lines; @default console.error */
  log?: (line: string) => void;
}

/** What one vision run can return. */
export interface VisionOutputs {
  /** [n, embed], not normalised. */
  features?: Float32Array;
  /** Per requested block, [n, 1+grid², width]. */
  tokens?: Float32Array[];
  /** [n, 1+grid², width]: the block stack's input (after ln_pre). */
  embeddings?: Float32Array;
  /** [n, grid², width·blocks]: the patch features of {@linkcode ClipModel.patchBlocks}. */
  patchFeatures?: Float32Array;
}

/** A CLIP model ready to encode images and text. */
export class ClipModel {
  /** The architecture. */
  readonly config: ClipConfig;
  /** sha256 of the weights file: the model's identity in profiles and caches. */
  readonly hash: string;
  /** The directory the checkpoint was loaded from. */
  readonly dir: string;
  /** exp of the checkpoint's learned log temperature: logits = scale · cosine. */
  readonly logitScale: number;
  /** The vision graph's precision. */
  readonly precision: Precision;
  /** The blocks whose patch features the vision graph computes (`runVision`'s `patchFeatures`). */
  readonly patchBlocks: readonly number[];
  /** The blocks whose tokens `runVision` can return: all but the last, unless it is a patch block. */
  readonly tokenBlocks: readonly number[];
  readonly #tokenizer: ClipTokenizer | TokenizerError;
  readonly #vision: OnnxSession;
  readonly #text: OnnxSession;
  readonly #readEmbeddingRows: (ids: number[]) => Promise<Float32Array>;
  readonly #openTextVjp: () => Promise<OnnxSession>;
  /** Opened on first use: only enrollment differentiates, and scoring-only services never pay for it. */
  #textVjp?: Promise<OnnxSession>;

  /** Assembles a model from its open sessions; {@linkcode loadClip} makes them. */
  constructor(init: {
    config: ClipConfig;
    tokenizer: ClipTokenizer | TokenizerError;
    hash: string;
    dir: string;
    logitScale: number;
    precision: Precision;
    vision: OnnxSession;
    text: OnnxSession;
    readEmbeddingRows: (ids: number[]) => Promise<Float32Array>;
    openTextVjp: () => Promise<OnnxSession>;
  }) {
    this.config = init.config;
    this.patchBlocks = patchFeatureBlocks(init.config.vision.layers);
    this.tokenBlocks = tokenOutputBlocks(init.config.vision.layers);
    this.#tokenizer = init.tokenizer;
    this.hash = init.hash;
    this.dir = init.dir;
    this.logitScale = init.logitScale;
    this.precision = init.precision;
    this.#vision = init.vision;
    this.#text = init.text;
    this.#readEmbeddingRows = init.readEmbeddingRows;
    this.#openTextVjp = init.openTextVjp;
  }

  /**
   * The tokenizer. A model folder without a vocabulary still encodes images; text use then throws
   * the error that loading the vocabulary gave.
   */
  get tokenizer(): ClipTokenizer {
    if (this.#tokenizer instanceof TokenizerError) throw this.#tokenizer;
    return this.#tokenizer;
  }

  /** The provider the vision graph runs on. */
  get provider(): Provider {
    return this.#vision.provider;
  }

  /** Token ids with start and end tokens, at most the context length, no padding. */
  tokenize(texts: string[]): number[][] {
    return this.tokenizer.tokenize(texts, { contextLength: this.config.text.contextLength });
  }

  /** Image features [n, embed] (not normalised) of `pixels` [n, 3, S, S]. */
  async encodeImage(pixels: Float32Array, n: number): Promise<Float32Array> {
    return (await this.runVision(pixels, n, { features: true })).features!;
  }

  /** The tokens of `blocks` (0-based), each [n, 1+grid², width]. */
  async imageTokens(pixels: Float32Array, n: number, blocks: number[]): Promise<Float32Array[]> {
    return (await this.runVision(pixels, n, { blocks })).tokens!;
  }

  /** One vision run returning any combination of its outputs. */
  async runVision(
    pixels: Float32Array,
    n: number,
    want: {
      features?: boolean;
      blocks?: number[];
      embeddings?: boolean;
      patchFeatures?: boolean;
    },
  ): Promise<VisionOutputs> {
    const { imageSize, layers } = this.config.vision;
    const expected = n * 3 * imageSize * imageSize;
    if (pixels.length !== expected) {
      throw new ShapeError(
        `Pixels hold ${pixels.length} values, not n·3·${imageSize}·${imageSize} = ${expected}`,
      );
    }
    for (const b of want.blocks ?? []) {
      if (!Number.isInteger(b) || b < 0 || b >= layers) {
        throw new ShapeError(`Block ${b} does not exist: the vision tower has blocks 0–${layers - 1}`);
      }
      if (!this.tokenBlocks.includes(b)) {
        throw new ShapeError(
          `Block ${b}'s tokens are not computed: the vision graph runs its last block on the class token alone`,
        );
      }
    }
    const names = [
      ...(want.features ? ["image_features"] : []),
      ...(want.embeddings ? ["embeddings"] : []),
      ...(want.patchFeatures ? [PATCH_FEATURES_OUTPUT] : []),
      ...(want.blocks ?? []).map(blockTokensOutput),
    ];
    const out = await this.#vision.run(
      { pixel_values: { data: pixels, dims: [n, 3, imageSize, imageSize] } },
      names,
    );
    return {
      features: want.features ? out.image_features.data as Float32Array : undefined,
      embeddings: want.embeddings ? out.embeddings.data as Float32Array : undefined,
      patchFeatures: want.patchFeatures ? out[PATCH_FEATURES_OUTPUT].data as Float32Array : undefined,
      tokens: want.blocks
        ? want.blocks.map((b) => out[blockTokensOutput(b)].data as Float32Array)
        : undefined,
    };
  }

  /**
   * CLIP's logits [images, texts]: `logitScale` times the cosine of each image and text feature
   * (features as returned by encodeImage and encodeText, not normalised).
   */
  logitsPerImage(imageFeatures: Float32Array, textFeatures: Float32Array): Float32Array {
    const e = this.config.embedDim;
    const images = normalizeRows(imageFeatures, e).unit, texts = normalizeRows(textFeatures, e).unit;
    const ni = images.length / e, nt = texts.length / e;
    const out = new Float32Array(ni * nt);
    for (let i = 0; i < ni; i++) {
      for (let t = 0; t < nt; t++) {
        let dot = 0;
        for (let k = 0; k < e; k++) dot += images[i * e + k] * texts[t * e + k];
        out[i * nt + t] = this.logitScale * dot;
      }
    }
    return out;
  }

  /** Text features [n, embed] (not normalised). */
  async encodeText(texts: string[]): Promise<Float32Array> {
    return await this.#runText(this.textFeeds(texts));
  }

  /**
   * Text features with the single-token word `placeholder` replaced, wherever it occurs, by the
   * embedding `concept` [width]: how a learned concept is spoken.
   */
  async encodeTextWithConcept(
    texts: string[],
    placeholder: string,
    concept: Float32Array,
  ): Promise<Float32Array> {
    return await this.#runText(this.textFeeds(texts, { placeholder, concept }));
  }

  /**
   * dL/dconcept [width]: the vector–Jacobian product of the personalised text features (as
   * {@linkcode encodeTextWithConcept} computes them) with the upstream gradient `gradFeatures`
   * [texts.length, embed] = dL/dfeatures, through the whole text transformer.
   */
  async conceptVJP(
    texts: string[],
    placeholder: string,
    concept: Float32Array,
    gradFeatures: Float32Array,
  ): Promise<Float32Array> {
    const feeds = this.textFeeds(texts, { placeholder, concept });
    const expected = texts.length * this.config.embedDim;
    if (gradFeatures.length !== expected) {
      throw new ShapeError(`gradFeatures holds ${gradFeatures.length} values, not texts·embed = ${expected}`);
    }
    this.#textVjp ??= this.#openTextVjp();
    return (await runTextVjp(await this.#textVjp, { feeds, gradFeatures })).gradConcept;
  }

  /**
   * Opens the text VJP graph (building it first when the cache lacks it), which otherwise happens
   * at the first {@linkcode conceptVJP}: both are synchronous work of up to seconds that a service
   * does at start, not between frames during its first enrollment.
   */
  async prepareEnrollment(): Promise<void> {
    this.#textVjp ??= this.#openTextVjp();
    await this.#textVjp;
  }

  /**
   * The embedding rows [ids.length, width] of single-token words, e.g. "object", the
   * initial value of a learned concept.
   */
  async wordEmbeddings(words: string[]): Promise<Float32Array> {
    return await this.#readEmbeddingRows(words.map((w) => this.tokenizer.tokenId(w)));
  }

  /** The feeds of the text graph (shared with its VJP graph). */
  textFeeds(
    texts: string[],
    personalise?: { placeholder: string; concept: Float32Array },
  ): Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> {
    const width = this.config.text.width;
    const ids = this.tokenize(texts);
    const n = ids.length;
    const seq = Math.max(...ids.map((t) => t.length));
    const placeholderId = personalise ? this.tokenizer.tokenId(personalise.placeholder) : -1;
    if (personalise && personalise.concept.length !== width) {
      throw new ShapeError(`Concept has ${personalise.concept.length} values, the text width is ${width}`);
    }
    const inputIds = new BigInt64Array(n * seq);
    const conceptMask = new Float32Array(n * seq);
    const eotOnehot = new Float32Array(n * seq);
    ids.forEach((row, i) => {
      row.forEach((id, j) => {
        inputIds[i * seq + j] = BigInt(id);
        if (id === placeholderId) conceptMask[i * seq + j] = 1;
      });
      eotOnehot[i * seq + row.length - 1] = 1;
    });
    return {
      input_ids: { data: inputIds, dims: [n, seq] },
      concept_mask: { data: conceptMask, dims: [n, seq] },
      eot_onehot: { data: eotOnehot, dims: [n, seq] },
      concept: { data: personalise?.concept ?? new Float32Array(width), dims: [width] },
    };
  }

  async #runText(feeds: ReturnType<ClipModel["textFeeds"]>): Promise<Float32Array> {
    const out = await this.#text.run(feeds, ["text_features"]);
    return out.text_features.data as Float32Array;
  }

  /** Releases the sessions. */
  async dispose(): Promise<void> {
    await this.#vision.dispose();
    await this.#text.dispose();
    if (this.#textVjp) await (await this.#textVjp).dispose();
  }
}

/**
 * Loads a CLIP checkpoint directory (OpenCLIP or Hugging Face layout) with the tokenizer found in it,
 * building (or reusing cached) graphs and opening them on the requested device.
 */
export async function loadClip(dir: string, opts: LoadClipOptions = {}): Promise<ClipModel> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const checkpointOpts = opts.activation ? { activation: opts.activation } : {};
  const checkpoint = await openCheckpoint(dir, checkpointOpts);
  try {
    for (const warning of checkpoint.warnings) log(`warning: ${warning}`);
    const tokenizer = await loadTokenizer(opts.vocab ?? dir).catch((error) => {
      if (!(error instanceof TokenizerError)) throw error;
      log(`warning: text encoding is unavailable: ${error.message}`);
      return error;
    });
    const hash = await checkpoint.hash(cacheDir);
    const precision = opts.precision ?? defaultPrecision(opts.device ?? "auto");
    const visionPath = cachedGraphPath(cacheDir, hash, `vision-${precision}`);
    const textPath = cachedGraphPath(cacheDir, hash, "text");
    let weights: ClipWeights | undefined;
    const build = async (path: string, make: (w: ClipWeights) => GraphBuilder, what: string) => {
      if (await isCached(path)) return;
      const started = performance.now();
      weights ??= await checkpoint.readWeights();
      await storeGraph(path, make(weights), `CLIP ${what} graph of ${dir} (sha256 ${hash})`);
      log(`built the ${what} graph in ${((performance.now() - started) / 1000).toFixed(1)} s: ${path}`);
    };
    await build(
      visionPath,
      (w) => buildVisionGraph(checkpoint.config, w.vision, precision),
      `${precision} vision`,
    );
    await build(textPath, (w) => buildTextGraph(checkpoint.config, w.text).graph, "text");
    weights = undefined;
    const sessionOpts = { device: opts.device, threads: opts.threads, log };
    const vision = await createSession(visionPath, {
      ...sessionOpts,
      label: `the CLIP ${precision} vision graph`,
    });
    const text = await createSession(textPath, { ...sessionOpts, label: "the CLIP text graph" });
    const logitScale = Math.exp(await checkpoint.readLogitScale());
    return new ClipModel({
      config: checkpoint.config,
      tokenizer,
      hash,
      dir,
      logitScale,
      precision,
      vision,
      text,
      openTextVjp: async () => {
        const path = cachedGraphPath(cacheDir, hash, "text_vjp");
        if (!(await isCached(path))) {
          using reopened = await openCheckpoint(dir, checkpointOpts);
          const started = performance.now();
          const { graph } = buildTextVjpGraph(reopened.config, (await reopened.readWeights()).text);
          await storeGraph(path, graph, `CLIP text VJP graph of ${dir} (sha256 ${hash})`);
          log(`built the text VJP graph in ${((performance.now() - started) / 1000).toFixed(1)} s: ${path}`);
        }
        return await createSession(path, { ...sessionOpts, label: "the CLIP text VJP graph" });
      },
      readEmbeddingRows: async (ids) => {
        // Reopened per call: the file handle is not held for the model's lifetime for a rare read.
        using reopened = await openCheckpoint(dir, checkpointOpts);
        return await reopened.readTokenEmbeddingRows(ids);
      },
    });
  } finally {
    checkpoint.close();
  }
}
