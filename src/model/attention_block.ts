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
  multiHeadAttention,
  reshape,
  sigmoid,
  softmax,
  split,
  transpose,
  type Value,
} from "../onnx/mod.ts";
import { type Activation, type BlockWeights, lazyTensor } from "../clip/mod.ts";
import { weight } from "./_initializers.ts";
import { floatInitializer, linear, type LinearParams, linearParams, toType } from "./_linear.ts";
import type { Precision } from "./precision.ts";

/** The shape facts a block needs. */
export interface BlockConfig {
  width: number;
  heads: number;
  activation: Activation;
  layerNormEps: number;
  /** Of the linear layers and the attention products; @default "fp32" */
  precision?: Precision;
  /**
   * Attention as onnxruntime's fused MultiHeadAttention kernel: inference only (no gradient rule),
   * so the vision graph uses it and the text graph, which enrollment differentiates, does not.
   * @default false
   */
  fusedAttention?: boolean;
}

/** A block's weights as graph initializers. */
export interface BlockParams {
  ln1: [Value, Value];
  /** [width, 3·width], query columns (and bias) pre-scaled by 1/√headWidth. */
  qkv: LinearParams;
  out: LinearParams;
  ln2: [Value, Value];
  fc: LinearParams;
  proj: LinearParams;
}

/**
 * Adds one block's weights to the graph. The attention scale 1/√d is folded into the query
 * projection here, which saves a multiply per attention score at run time.
 */
export function blockParams(g: GraphBuilder, prefix: string, w: BlockWeights, cfg: BlockConfig): BlockParams {
  const scale = 1 / Math.sqrt(cfg.width / cfg.heads);
  const qkvBias = Float32Array.from(w.qkvBias.data, (v, i) => (i < cfg.width ? v * scale : v));
  const qkvWeight = lazyTensor(
    w.qkvWeight.shape,
    () => Float32Array.from(w.qkvWeight.data, (v, i) => (i < cfg.width * cfg.width ? v * scale : v)),
  );
  const precision = cfg.precision ?? "fp32";
  const lin = (name: string, weight: BlockWeights["outWeight"], bias: Float32Array) =>
    linearParams(g, `${prefix}.${name}`, { weight, bias }, precision);
  return {
    ln1: [weight(g, `${prefix}.ln1.weight`, w.ln1.weight), weight(g, `${prefix}.ln1.bias`, w.ln1.bias)],
    qkv: lin("attn.qkv", qkvWeight, qkvBias),
    out: lin("attn.out", w.outWeight, w.outBias.data),
    ln2: [weight(g, `${prefix}.ln2.weight`, w.ln2.weight), weight(g, `${prefix}.ln2.bias`, w.ln2.bias)],
    fc: lin("mlp.fc", w.fcWeight, w.fcBias.data),
    proj: lin("mlp.proj", w.projWeight, w.projBias.data),
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

/**
 * Unfused, the attention products run in the linear layers' compute type (float32 at int8:
 * onnxruntime has no faster kernel for a product of two activations) and the scores go through
 * softmax in float32; fused, the whole attention is float32.
 */
function selfAttention(x: Value, p: BlockParams, cfg: BlockConfig, mask?: Value): Value {
  const headWidth = cfg.width / cfg.heads;
  const qkv = linear(x, p.qkv);
  if (cfg.fusedAttention && !mask) {
    // float32 at every precision, so the softmax inside is float32 (a few percent of the work); the
    // query projection carries 1/√d already.
    const [q, k, v] = split(toType(qkv, "float32"), [cfg.width, cfg.width, cfg.width], -1);
    return toType(linear(multiHeadAttention(q, k, v, { heads: cfg.heads, scale: 1 }), p.out), "float32");
  }
  const [q, k, v] = split(qkv, [cfg.width, cfg.width, cfg.width], -1)
    .map((t) => reshape(t, [0, 0, cfg.heads, headWidth]));
  // [n, H, T, d] for queries and values, [n, H, d, T] for keys, so scores are one batched MatMul.
  let scores = toType(matMul(transpose(q, [0, 2, 1, 3]), transpose(k, [0, 2, 3, 1])), "float32");
  if (mask) scores = add(scores, mask);
  const weights = toType(softmax(scores, -1), qkv.dtype as "float32" | "float16");
  const context = matMul(weights, transpose(v, [0, 2, 1, 3]));
  const merged = reshape(transpose(context, [0, 2, 1, 3]), [0, 0, cfg.width]);
  return toType(linear(merged, p.out), "float32");
}

function mlp(x: Value, p: BlockParams, activation: Activation): Value {
  return toType(linear(activate(linear(x, p.fc), activation), p.proj), "float32");
}

/** GELU (exact) or OpenAI's QuickGELU `x·σ(1.702x)`, in x's element type. */
export function activate(x: Value, activation: Activation): Value {
  if (activation === "gelu") return gelu(x);
  const k = x.dtype === "float16"
    ? floatInitializer(x.graph, "quick_gelu_k", [], Float32Array.of(1.702), "float16")
    : x.graph.scalar(1.702);
  return mul(x, sigmoid(mul(x, k)));
}
