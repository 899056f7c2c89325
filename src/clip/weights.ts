/**
 * The canonical, layout-independent CLIP weights: what every checkpoint layout is mapped to and what
 * the graph builders read. All tensors are float32, row-major, in the orientation named per field.
 *
 * @module
 */

/** A dense float32 tensor. */
export interface FloatTensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** The values, row-major. */
  readonly data: Float32Array;
}

/**
 * A tensor whose values are produced each time `data` is read, never kept: a checkpoint's weights
 * read from the file as a graph writer takes them, so a multi-gigabyte model is never in memory twice.
 */
export function lazyTensor(shape: readonly number[], read: () => Float32Array): FloatTensor {
  return {
    shape,
    get data() {
      return read();
    },
  };
}

/** LayerNorm affine parameters, each [width]. */
export interface LayerNormWeights {
  /** Scale, [width]. */
  readonly weight: FloatTensor;
  /** Shift, [width]. */
  readonly bias: FloatTensor;
}

/** One pre-norm residual attention block (OpenAI/OpenCLIP orientation: `y = x @ W.T + b`). */
export interface BlockWeights {
  /** The LayerNorm before attention. */
  readonly ln1: LayerNormWeights;
  /** [3·width, width]: query, key and value projections stacked in that order. */
  readonly qkvWeight: FloatTensor;
  /** [3·width] */
  readonly qkvBias: FloatTensor;
  /** [width, width] */
  readonly outWeight: FloatTensor;
  /** [width] */
  readonly outBias: FloatTensor;
  /** The LayerNorm before the MLP. */
  readonly ln2: LayerNormWeights;
  /** [mlpWidth, width] */
  readonly fcWeight: FloatTensor;
  /** [mlpWidth] */
  readonly fcBias: FloatTensor;
  /** [width, mlpWidth] */
  readonly projWeight: FloatTensor;
  /** [width] */
  readonly projBias: FloatTensor;
}

/** The image tower. */
export interface VisionWeights {
  /** [width, 3, patch, patch], no bias. */
  readonly patchEmbed: FloatTensor;
  /** [width] */
  readonly classEmbed: FloatTensor;
  /** [1 + grid², width] */
  readonly posEmbed: FloatTensor;
  /** The LayerNorm after the embeddings, before the blocks. */
  readonly lnPre: LayerNormWeights;
  /** The residual blocks, input side first. */
  readonly blocks: readonly BlockWeights[];
  /** The LayerNorm on the class token after the blocks. */
  readonly lnPost: LayerNormWeights;
  /** [width, embedDim]: `features = lnPost(cls) @ proj`. */
  readonly proj: FloatTensor;
}

/** The text tower. */
export interface TextWeights {
  /** [vocabSize, width] */
  readonly tokenEmbed: FloatTensor;
  /** [contextLength, width] */
  readonly posEmbed: FloatTensor;
  /** The residual blocks, input side first. */
  readonly blocks: readonly BlockWeights[];
  /** The LayerNorm after the blocks. */
  readonly lnFinal: LayerNormWeights;
  /** [width, embedDim]: `features = lnFinal(eot) @ proj`. */
  readonly proj: FloatTensor;
}

/** Both towers and the learned temperature. */
export interface ClipWeights {
  /** The image tower. */
  readonly vision: VisionWeights;
  /** The text tower. */
  readonly text: TextWeights;
  /** log of the logit scale (CLIP stores it as a log). */
  readonly logitScale: number;
}
