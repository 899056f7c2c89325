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
  slice,
  softmax,
  split,
  transpose,
  type Value,
} from "../onnx/mod.ts";
import { type Activation, type BlockWeights, type FloatTensor, lazyTensor } from "../clip/mod.ts";
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

/** The last block's weights when only its class token is read: the query projection apart. */
export interface ClassTokenBlockParams extends Omit<BlockParams, "qkv"> {
  /** [width, width], pre-scaled by 1/√headWidth. */
  q: LinearParams;
  /** [width, 2·width]: keys, then values. */
  kv: LinearParams;
}

/**
 * Adds one block's weights to the graph. The attention scale 1/√d is folded into the query
 * projection here, which saves a multiply per attention score at run time.
 */
export function blockParams(g: GraphBuilder, prefix: string, w: BlockWeights, cfg: BlockConfig): BlockParams {
  const { weight, bias } = scaledQkv(w, cfg);
  return { ...sharedParams(g, prefix, w, cfg), qkv: blockLinear(g, `${prefix}.attn.qkv`, weight, bias, cfg) };
}

/** {@linkcode blockParams} for {@linkcode classTokenBlock}: query and key–value projections apart. */
export function classTokenBlockParams(
  g: GraphBuilder,
  prefix: string,
  w: BlockWeights,
  cfg: BlockConfig,
): ClassTokenBlockParams {
  const { weight, bias } = scaledQkv(w, cfg);
  const width = cfg.width, cut = width * width;
  return {
    ...sharedParams(g, prefix, w, cfg),
    q: blockLinear(
      g,
      `${prefix}.attn.q`,
      lazyTensor([width, width], () => weight.data.subarray(0, cut)),
      bias.subarray(0, width),
      cfg,
    ),
    kv: blockLinear(
      g,
      `${prefix}.attn.kv`,
      lazyTensor([2 * width, width], () => weight.data.subarray(cut)),
      bias.subarray(width),
      cfg,
    ),
  };
}

/** The qkv projection [3·width, width] (out-in) and its bias, the query rows scaled by 1/√d. */
function scaledQkv(w: BlockWeights, cfg: BlockConfig): { weight: FloatTensor; bias: Float32Array } {
  const scale = 1 / Math.sqrt(cfg.width / cfg.heads);
  return {
    weight: lazyTensor(
      w.qkvWeight.shape,
      () => Float32Array.from(w.qkvWeight.data, (v, i) => (i < cfg.width * cfg.width ? v * scale : v)),
    ),
    bias: Float32Array.from(w.qkvBias.data, (v, i) => (i < cfg.width ? v * scale : v)),
  };
}

function sharedParams(
  g: GraphBuilder,
  prefix: string,
  w: BlockWeights,
  cfg: BlockConfig,
): Omit<BlockParams, "qkv"> {
  return {
    ln1: [weight(g, `${prefix}.ln1.weight`, w.ln1.weight), weight(g, `${prefix}.ln1.bias`, w.ln1.bias)],
    out: blockLinear(g, `${prefix}.attn.out`, w.outWeight, w.outBias.data, cfg),
    ln2: [weight(g, `${prefix}.ln2.weight`, w.ln2.weight), weight(g, `${prefix}.ln2.bias`, w.ln2.bias)],
    fc: blockLinear(g, `${prefix}.mlp.fc`, w.fcWeight, w.fcBias.data, cfg),
    proj: blockLinear(g, `${prefix}.mlp.proj`, w.projWeight, w.projBias.data, cfg),
  };
}

function blockLinear(
  g: GraphBuilder,
  name: string,
  weight: FloatTensor,
  bias: Float32Array,
  cfg: BlockConfig,
): LinearParams {
  return linearParams(g, name, { weight, bias }, cfg.precision ?? "fp32");
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
 * One block's output for the class token alone, [n, 1, width], from `x` [n, T, width]: every token's
 * key and value, the class token's query, and the MLP on its row alone. It is all that the pooled
 * embedding reads of the last block, and skips 10 of that block's 12·width² products per token.
 * Fused attention (inference only).
 */
export function classTokenBlock(x: Value, p: ClassTokenBlockParams, cfg: BlockConfig): Value {
  const eps = { epsilon: cfg.layerNormEps };
  const normed = layerNorm(x, p.ln1[0], p.ln1[1], eps);
  const [k, v] = split(toType(linear(normed, p.kv), "float32"), [cfg.width, cfg.width], -1);
  const q = toType(linear(slice(normed, [0], [1], [1]), p.q), "float32");
  const attended = toType(
    linear(multiHeadAttention(q, k, v, { heads: cfg.heads, scale: 1 }), p.out),
    "float32",
  );
  const cls = add(slice(x, [0], [1], [1]), attended);
  return add(cls, mlp(layerNorm(cls, p.ln2[0], p.ln2[1], eps), p, cfg.activation));
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

function mlp(x: Value, p: Pick<BlockParams, "fc" | "proj">, activation: Activation): Value {
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
