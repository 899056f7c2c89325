/**
 * The image tower as an ONNX graph: patch embedding, class token, positional embedding, the block
 * stack, and the pooled projection. Every block's tokens are named outputs, because the patch branch
 * of ADP reads intermediate layers; onnxruntime computes them anyway on the way to the features.
 *
 * Built at a {@linkcode Precision}: at `int8` and `fp16` the patch embedding, every linear layer and
 * the projection run reduced (see `precision.ts`); outputs are float32 at every precision.
 *
 * Inputs: `pixel_values` float32 [batch, 3, S, S] (normalised).
 * Outputs: `image_features` [batch, embed] (not normalised), `embeddings` [batch, 1+G², width] (the
 * block stack's input, after ln_pre), `tokens.<i>` [batch, 1+G², width] per block of
 * {@linkcode tokenOutputBlocks} (all but the last, which runs on the class token alone), and
 * `patch_features` [batch, G², width·B]: the patch branch's vectors from the tokens of the
 * {@linkcode patchFeatureBlocks} (B of them), computed here because scoring reads them for every
 * frame: in JavaScript their normalisation cost a quarter of what scoring adds to an int8 graph.
 *
 * @module
 */
import {
  add,
  concat,
  conv2d,
  div,
  expand,
  gather,
  GraphBuilder,
  layerNorm,
  mul,
  reduceSum,
  reshape,
  shapeOf,
  slice,
  sqrt,
  transpose,
  type Value,
} from "../onnx/mod.ts";
import { type ClipConfig, lazyTensor, type VisionWeights } from "../clip/mod.ts";
import { weight } from "./_initializers.ts";
import { linear, linearParams, toType } from "./_linear.ts";
import { attentionBlock, blockParams, classTokenBlock, classTokenBlockParams } from "./attention_block.ts";
import type { Precision } from "./precision.ts";

/** Output name of block `i`'s tokens. */
export function blockTokensOutput(i: number): string {
  return `tokens.${i}`;
}

/** Output name of the patch features of the {@linkcode patchFeatureBlocks}. */
export const PATCH_FEATURES_OUTPUT = "patch_features";

/**
 * The blocks (0-based, in feature order) whose tokens make CLIP's patch features: those at one half
 * and three quarters of the depth. Mid-level features localise defects better than the last block,
 * which is shaped for the pooled embedding.
 */
export function patchFeatureBlocks(layers: number): number[] {
  return [...new Set([Math.round(layers * 0.5) - 1, Math.round(layers * 0.75) - 1])];
}

/**
 * The blocks whose tokens the vision graph outputs: all but the last, which runs on the class token
 * alone (the pooled embedding reads nothing else of it, and it is a twelfth of ViT-B/16's work) —
 * unless a model so shallow that its last block is one of its {@linkcode patchFeatureBlocks}.
 */
export function tokenOutputBlocks(layers: number): number[] {
  const last = layers - 1;
  const all = Array.from({ length: layers }, (_, i) => i);
  return patchFeatureBlocks(layers).includes(last) ? all : all.slice(0, last);
}

/**
 * Patch vectors from block tokens [batch, 1+G², width]: the class token dropped, each block's patch
 * token L2-normalised, the blocks concatenated and normalised again — which, the parts being unit
 * vectors, is a division by √blocks.
 */
function patchFeatures(blockTokens: readonly Value[]): Value {
  const g = blockTokens[0].graph;
  const units = blockTokens.map((t) => {
    const patches = slice(t, [1], [Number.MAX_SAFE_INTEGER], [1]);
    const squares = reduceSum(mul(patches, patches), [-1], { keepDims: true });
    return div(patches, sqrt(add(squares, g.scalar(1e-12))));
  });
  return mul(concat(units, -1), g.scalar(1 / Math.sqrt(units.length)));
}

/** Builds the vision graph for `config` with `weights`, at `precision` (@default "fp32"). */
export function buildVisionGraph(
  config: ClipConfig,
  weights: VisionWeights,
  precision: Precision = "fp32",
): GraphBuilder {
  const { imageSize, layerNormEps } = config.vision;
  const g = new GraphBuilder("clip_vision");
  const pixels = g.input("pixel_values", "float32", ["batch", 3, imageSize, imageSize]);

  const patchTokens = patchEmbedding(pixels, config, weights, precision);
  const width = config.vision.width;
  const cls = weight(g, "visual.class_embed", lazyTensor([1, 1, width], () => weights.classEmbed.data));
  const batchClass = expand(cls, concat([shapeOf(pixels, 0, 1), g.int64s([1, width])], 0));
  const tokens = add(
    concat([reshape(batchClass, [-1, 1, width]), patchTokens], 1),
    weight(g, "visual.pos_embed", weights.posEmbed),
  );

  const eps = { epsilon: layerNormEps };
  let x = layerNorm(
    tokens,
    weight(g, "visual.ln_pre.weight", weights.lnPre.weight),
    weight(g, "visual.ln_pre.bias", weights.lnPre.bias),
    eps,
  );
  g.output("embeddings", x);
  const blockCfg = { ...config.vision, activation: config.activation, precision, fusedAttention: true };
  const tokenBlocks = tokenOutputBlocks(config.vision.layers);
  const last = config.vision.layers - 1;
  const blockTokens = weights.blocks.map((bw, i) => {
    const prefix = `visual.block${i}`;
    if (!tokenBlocks.includes(i)) {
      return classTokenBlock(x, classTokenBlockParams(g, prefix, bw, blockCfg), blockCfg);
    }
    x = attentionBlock(x, blockParams(g, prefix, bw, blockCfg), blockCfg);
    g.output(blockTokensOutput(i), x);
    return x;
  });
  g.output(
    PATCH_FEATURES_OUTPUT,
    patchFeatures(patchFeatureBlocks(config.vision.layers).map((i) => blockTokens[i])),
  );

  // Only the class token is pooled: ln_post and the projection run on one row per image.
  const post = layerNorm(
    gather(blockTokens[last], g.int64(0), 1),
    weight(g, "visual.ln_post.weight", weights.lnPost.weight),
    weight(g, "visual.ln_post.bias", weights.lnPost.bias),
    eps,
  );
  const proj = linearParams(g, "visual.proj", { weight: weights.proj, orientation: "in-out" }, precision);
  g.output("image_features", toType(linear(post, proj), "float32"));
  return g;
}

/**
 * The patch embedding, tokens [n, G², width]. At `fp32` a strided Conv; otherwise the image is cut
 * into patches ([n, G², 3·P·P], channel-major within a patch like the kernel) and multiplied by the
 * kernel as a linear layer, so that int8 and fp16 use their fast products here too.
 */
function patchEmbedding(
  pixels: Value,
  config: ClipConfig,
  weights: VisionWeights,
  precision: Precision,
): Value {
  const { imageSize, patchSize, width } = config.vision;
  const grid = imageSize / patchSize;
  const g = pixels.graph;
  if (precision === "fp32") {
    const patches = conv2d(pixels, weight(g, "visual.patch_embed", weights.patchEmbed), {
      stride: patchSize,
    });
    return transpose(reshape(patches, [0, width, grid * grid]), [0, 2, 1]);
  }
  const cut = transpose(reshape(pixels, [0, 3, grid, patchSize, grid, patchSize]), [0, 2, 4, 1, 3, 5]);
  const rows = reshape(cut, [0, grid * grid, 3 * patchSize * patchSize]);
  const kernel = lazyTensor([width, 3 * patchSize * patchSize], () => weights.patchEmbed.data);
  return toType(
    linear(rows, linearParams(g, "visual.patch_embed", { weight: kernel }, precision)),
    "float32",
  );
}
