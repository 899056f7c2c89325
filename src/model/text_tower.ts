/**
 * The text tower as an ONNX graph, with concept injection: where `concept_mask` is 1 the token
 * embedding is replaced by the `concept` vector (textual inversion's learned word). Sequences are as
 * long as the longest prompt of the batch, not 77: with causal attention nothing after the end token
 * reaches the pooled feature.
 *
 * Inputs: `input_ids` int64 [batch, seq]; `concept_mask` float32 [batch, seq] (1 at placeholder
 * positions); `eot_onehot` float32 [batch, seq] (1 at each prompt's end token, where it is pooled);
 * `concept` float32 [width].
 * Output: `text_features` [batch, embed] (not normalised). {@linkcode buildTextConditioningGraph}
 * shares the embedding and blocks and gives Stable Diffusion's conditioning instead.
 *
 * @module
 */
import {
  add,
  concat,
  gather,
  GraphBuilder,
  layerNorm,
  matMul,
  mul,
  reshape,
  shapeOf,
  slice,
  sub,
  unsqueeze,
  type Value,
} from "../onnx/mod.ts";
import type { ClipConfig, TextWeights } from "../clip/mod.ts";
import { weight } from "./_initializers.ts";
import { attentionBlock, blockParams } from "./attention_block.ts";

/** A large negative score rather than −∞: masked positions get exactly zero weight either way. */
const MASKED = -1e9;

/** The text graph's declared inputs, before any blocks: exposed so the VJP graph can reuse them. */
export interface TextGraphInputs {
  inputIds: Value;
  conceptMask: Value;
  eotOnehot: Value;
  concept: Value;
}

/** Builds the text graph; returns the builder, its inputs and the features value. */
export function buildTextGraph(
  config: ClipConfig,
  weights: TextWeights,
): { graph: GraphBuilder; inputs: TextGraphInputs; features: Value } {
  const { width } = config.text;
  const g = new GraphBuilder("clip_text");
  const inputs: TextGraphInputs = {
    inputIds: g.input("input_ids", "int64", ["batch", "seq"]),
    conceptMask: g.input("concept_mask", "float32", ["batch", "seq"]),
    eotOnehot: g.input("eot_onehot", "float32", ["batch", "seq"]),
    concept: g.input("concept", "float32", [width]),
  };
  const x = textHiddenStates(config, weights, inputs, weights.blocks.length);
  const pooled = reshape(matMul(unsqueeze(inputs.eotOnehot, [1]), x), [0, width]);
  const features = matMul(pooled, weight(g, "text.proj", weights.proj));
  g.output("text_features", features);
  return { graph: g, inputs, features };
}

/**
 * The text tower as Stable Diffusion conditions its UNet: the first `blocks` blocks, then
 * `ln_final`, at every position (ids zero-padded to the context length by the caller). SD 2.x takes
 * OpenCLIP's `penultimate` layer: every block but the last of a whole CLIP checkpoint, which is every
 * block of diffusers' `text_encoder/` (converted with the last block dropped, 23 of ViT-H/14's 24).
 * Same inputs as {@linkcode buildTextGraph} without `eot_onehot`; output `hidden_states`
 * [batch, seq, width]. The projection is not applied, so it may be absent (a text-only checkpoint).
 */
export function buildTextConditioningGraph(
  config: Pick<ClipConfig, "text" | "activation">,
  weights: Omit<TextWeights, "proj">,
  blocks: number,
): GraphBuilder {
  const g = new GraphBuilder("clip_text_conditioning");
  const inputs = {
    inputIds: g.input("input_ids", "int64", ["batch", "seq"]),
    conceptMask: g.input("concept_mask", "float32", ["batch", "seq"]),
    concept: g.input("concept", "float32", [config.text.width]),
  };
  g.output("hidden_states", textHiddenStates(config, weights, inputs, blocks));
  return g;
}

/** Personalised token embeddings through the first `blocks` blocks, then `ln_final`: [batch, seq, width]. */
function textHiddenStates(
  config: Pick<ClipConfig, "text" | "activation">,
  weights: Omit<TextWeights, "proj">,
  inputs: Omit<TextGraphInputs, "eotOnehot">,
  blocks: number,
): Value {
  const { contextLength, layerNormEps } = config.text;
  const g = inputs.inputIds.graph;
  const embedded = gather(weight(g, "text.token_embed", weights.tokenEmbed), inputs.inputIds, 0);
  const placeholder = unsqueeze(inputs.conceptMask, [2]);
  const personalised = add(embedded, mul(placeholder, sub(inputs.concept, embedded)));

  const seqLen = shapeOf(inputs.inputIds, 1, 2);
  const positions = slice(weight(g, "text.pos_embed", weights.posEmbed), [0], seqLen, [0]);
  let x = add(personalised, positions);

  const causal = new Float32Array(contextLength * contextLength);
  for (let i = 0; i < contextLength; i++) {
    for (let j = i + 1; j < contextLength; j++) causal[i * contextLength + j] = MASKED;
  }
  const fullMask = g.initializer("text.causal_mask", "float32", [contextLength, contextLength], causal);
  const mask = slice(fullMask, [0, 0], concat([seqLen, seqLen], 0), [0, 1]);

  const blockCfg = { ...config.text, activation: config.activation };
  weights.blocks.slice(0, blocks).forEach((bw, i) => {
    x = attentionBlock(x, blockParams(g, `text.block${i}`, bw, blockCfg), blockCfg, mask);
  });
  return layerNorm(
    x,
    weight(g, "text.ln_final.weight", weights.lnFinal.weight),
    weight(g, "text.ln_final.bias", weights.lnFinal.bias),
    { epsilon: layerNormEps },
  );
}
