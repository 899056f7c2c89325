/**
 * The image tower as an ONNX graph: patch embedding, class token, positional embedding, the block
 * stack, and the pooled projection. Every block's tokens are named outputs, because the patch branch
 * of ADP reads intermediate layers; onnxruntime computes them anyway on the way to the features.
 *
 * Inputs: `pixel_values` float32 [batch, 3, S, S] (normalised).
 * Outputs: `image_features` [batch, embed] (not normalised), `embeddings` [batch, 1+G², width] (the
 * block stack's input, after ln_pre), `projected_tokens` [batch, 1+G², embed]
 * (every token through ln_post and the projection), `tokens.<i>` [batch, 1+G², width] per block.
 *
 * @module
 */
import {
  add,
  concat,
  conv2d,
  expand,
  gather,
  GraphBuilder,
  layerNorm,
  matMul,
  reshape,
  shapeOf,
  transpose,
} from "../onnx/mod.ts";
import type { ClipConfig, VisionWeights } from "../clip/mod.ts";
import { weight } from "./_initializers.ts";
import { attentionBlock, blockParams } from "./attention_block.ts";

/** Output name of block `i`'s tokens. */
export function blockTokensOutput(i: number): string {
  return `tokens.${i}`;
}

/** Builds the vision graph for `config` with `weights`. */
export function buildVisionGraph(config: ClipConfig, weights: VisionWeights): GraphBuilder {
  const { imageSize, patchSize, width, layerNormEps } = config.vision;
  const grid = imageSize / patchSize;
  const g = new GraphBuilder("clip_vision");
  const pixels = g.input("pixel_values", "float32", ["batch", 3, imageSize, imageSize]);

  const patches = conv2d(pixels, weight(g, "visual.patch_embed", weights.patchEmbed), { stride: patchSize });
  const patchTokens = transpose(reshape(patches, [0, width, grid * grid]), [0, 2, 1]);
  const cls = weight(g, "visual.class_embed", { shape: [1, 1, width], data: weights.classEmbed.data });
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
  const blockCfg = { ...config.vision, activation: config.activation };
  weights.blocks.forEach((bw, i) => {
    x = attentionBlock(x, blockParams(g, `visual.block${i}`, bw, blockCfg), blockCfg);
    g.output(blockTokensOutput(i), x);
  });

  const post = layerNorm(
    x,
    weight(g, "visual.ln_post.weight", weights.lnPost.weight),
    weight(g, "visual.ln_post.bias", weights.lnPost.bias),
    eps,
  );
  const projected = matMul(post, weight(g, "visual.proj", weights.proj));
  g.output("projected_tokens", projected);
  g.output("image_features", gather(projected, g.int64(0), 1));
  return g;
}
