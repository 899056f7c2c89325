/**
 * CLIP's residual attention block: pre-norm multi-head self-attention, then a pre-norm MLP, each
 * added back to the residual stream.
 *
 * @module
 */
import {
  add,
  gelu,
  type GraphBuilder,
  layerNorm,
  matMul,
  mul,
  reshape,
  sigmoid,
  softmax,
  split,
  transpose,
  type Value,
} from "../onnx/mod.ts";
import type { Activation, BlockWeights } from "../clip/mod.ts";
import { linearWeight, weight } from "./_initializers.ts";

/** The shape facts a block needs. */
export interface BlockConfig {
  width: number;
  heads: number;
  activation: Activation;
  layerNormEps: number;
}

/** A block's weights as graph initializers. */
export interface BlockParams {
  ln1: [Value, Value];
  /** [width, 3·width], query columns pre-scaled by 1/√headWidth. */
  qkv: Value;
  qkvBias: Value;
  out: Value;
  outBias: Value;
  ln2: [Value, Value];
  fc: Value;
  fcBias: Value;
  proj: Value;
  projBias: Value;
}

/**
 * Adds one block's weights to the graph. The attention scale 1/√d is folded into the query
 * projection here, which saves a multiply per attention score at run time.
 */
export function blockParams(g: GraphBuilder, prefix: string, w: BlockWeights, cfg: BlockConfig): BlockParams {
  const scale = 1 / Math.sqrt(cfg.width / cfg.heads);
  const qkvBias = Float32Array.from(w.qkvBias.data, (v, i) => (i < cfg.width ? v * scale : v));
  const qkvWeight = {
    shape: w.qkvWeight.shape,
    data: Float32Array.from(w.qkvWeight.data, (v, i) => (i < cfg.width * cfg.width ? v * scale : v)),
  };
  return {
    ln1: [weight(g, `${prefix}.ln1.weight`, w.ln1.weight), weight(g, `${prefix}.ln1.bias`, w.ln1.bias)],
    qkv: linearWeight(g, `${prefix}.attn.qkv`, qkvWeight),
    qkvBias: g.initializer(`${prefix}.attn.qkv_bias`, "float32", w.qkvBias.shape, qkvBias),
    out: linearWeight(g, `${prefix}.attn.out`, w.outWeight),
    outBias: weight(g, `${prefix}.attn.out_bias`, w.outBias),
    ln2: [weight(g, `${prefix}.ln2.weight`, w.ln2.weight), weight(g, `${prefix}.ln2.bias`, w.ln2.bias)],
    fc: linearWeight(g, `${prefix}.mlp.fc`, w.fcWeight),
    fcBias: weight(g, `${prefix}.mlp.fc_bias`, w.fcBias),
    proj: linearWeight(g, `${prefix}.mlp.proj`, w.projWeight),
    projBias: weight(g, `${prefix}.mlp.proj_bias`, w.projBias),
  };
}

/**
 * One block over `x` [n, T, width]. `mask` [T, T] is added to the attention scores (the text
 * tower's causal mask); the image tower passes none.
 */
export function attentionBlock(x: Value, p: BlockParams, cfg: BlockConfig, mask?: Value): Value {
  const eps = { epsilon: cfg.layerNormEps };
  x = add(x, selfAttention(layerNorm(x, p.ln1[0], p.ln1[1], eps), p, cfg, mask));
  return add(x, mlp(layerNorm(x, p.ln2[0], p.ln2[1], eps), p, cfg.activation));
}

function selfAttention(x: Value, p: BlockParams, cfg: BlockConfig, mask?: Value): Value {
  const headWidth = cfg.width / cfg.heads;
  const qkv = add(matMul(x, p.qkv), p.qkvBias);
  const [q, k, v] = split(qkv, [cfg.width, cfg.width, cfg.width], -1)
    .map((t) => reshape(t, [0, 0, cfg.heads, headWidth]));
  // [n, H, T, d] for queries and values, [n, H, d, T] for keys, so scores are one batched MatMul.
  let scores = matMul(transpose(q, [0, 2, 1, 3]), transpose(k, [0, 2, 3, 1]));
  if (mask) scores = add(scores, mask);
  const context = matMul(softmax(scores, -1), transpose(v, [0, 2, 1, 3]));
  const merged = reshape(transpose(context, [0, 2, 1, 3]), [0, 0, cfg.width]);
  return add(matMul(merged, p.out), p.outBias);
}

function mlp(x: Value, p: BlockParams, activation: Activation): Value {
  const h = add(matMul(x, p.fc), p.fcBias);
  return add(matMul(activate(h, activation), p.proj), p.projBias);
}

/** GELU (exact) or OpenAI's QuickGELU `x·σ(1.702x)`. */
export function activate(x: Value, activation: Activation): Value {
  return activation === "gelu" ? gelu(x) : mul(x, sigmoid(mul(x, x.graph.scalar(1.702))));
}
