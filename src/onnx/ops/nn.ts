/**
 * Neural-network operators with fast onnxruntime kernels.
 *
 * @module
 */
import { attr, type Node, type OpDef, type Value } from "../graph.ts";
import { ErrorCode, GraphError } from "../../errors.ts";
import { add, div, erf, exp, mul, sqrt, sub } from "./elementwise.ts";
import { reshape, reshapeLike } from "./shape.ts";
import { reduceMean, reduceSum } from "./reduce.ts";
import { normAxis } from "./_shape.ts";

/** ONNX LayerNormalization (opset 17), normalising over the last axis. */
export const LAYER_NORM: OpDef = {
  opType: "LayerNormalization",
  infer: ([x, scale]) => {
    const width = x!.shape[x!.shape.length - 1];
    if (scale!.shape.length !== 1 || scale!.shape[0] !== width) {
      throw new Error(`scale [${scale!.shape}] does not match the last axis ${width}`);
    }
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  vjp: (node, [g]) => layerNormGradients(node, g!),
};

/** ONNX Softmax (opset 13: over one axis). */
export const SOFTMAX: OpDef = {
  opType: "Softmax",
  infer: ([x], attrs) => {
    normAxis(attrs.axis?.value as number ?? -1, x!.shape.length);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  // dx = y ⊙ (g − Σ g⊙y): the Jacobian diag(y) − y yᵀ applied without forming it.
  vjp: ({ attrs, outputs: [y] }, [g]) => {
    const axis = attrs.axis?.value as number ?? -1;
    return [mul(y, sub(g!, reduceSum(mul(g!, y), [axis], { keepDims: true })))];
  },
};

/** ONNX Gelu (opset 20), exact erf form. */
export const GELU: OpDef = {
  opType: "Gelu",
  infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
  vjp: ({ inputs: [x], attrs }, [g]) => {
    if ((attrs.approximate?.value ?? "none") !== "none") {
      throw new GraphError(
        ErrorCode.VJP_MISSING,
        `Gelu has no gradient rule for approximate=${attrs.approximate.value}`,
      );
    }
    return [mul(g!, geluDerivative(x!))];
  },
};

/** LayerNorm over the last axis with affine weight and bias. */
export function layerNorm(x: Value, weight: Value, bias: Value, opts: { epsilon: number }): Value {
  return x.graph.apply(LAYER_NORM, [x, weight, bias], {
    axis: attr.int(-1),
    epsilon: attr.float(opts.epsilon),
  })[0];
}

/** Softmax over `axis`. */
export function softmax(x: Value, axis = -1): Value {
  return x.graph.apply(SOFTMAX, [x], { axis: attr.int(axis) })[0];
}

/** GELU, exact (erf) form. */
export function gelu(x: Value): Value {
  return x.graph.apply(GELU, [x])[0];
}

/** d/dx of exact GELU x·Φ(x): Φ(x) + x·φ(x), with Φ the normal CDF and φ its density. */
export function geluDerivative(x: Value): Value {
  const g = x.graph;
  const cdf = mul(g.scalar(0.5), add(g.scalar(1), erf(mul(x, g.scalar(Math.SQRT1_2)))));
  const density = mul(g.scalar(1 / Math.sqrt(2 * Math.PI)), exp(mul(mul(x, x), g.scalar(-0.5))));
  return add(cdf, mul(x, density));
}

/**
 * LayerNormalization's rule (opset 17: normalised over the axes from `axis` to the last). With
 * x̂ = (x − μ)·r, r = 1/√(σ² + ε) and y = x̂·scale + bias:
 * dx = r·(d − mean(d) − x̂·mean(d·x̂)) where d = g·scale; dscale = g·x̂; dbias = g
 * (the walker sums the last two over the leading axes). The statistics are recomputed from x
 * rather than read from the op's optional outputs, which the forward graphs do not request.
 */
function layerNormGradients(node: Node, g: Value): (Value | null)[] {
  const [x, scale, bias] = node.inputs;
  const gr = g.graph;
  const rank = x!.shape.length;
  const first = normAxis(node.attrs.axis?.value as number ?? -1, rank);
  const axes = Array.from({ length: rank - first }, (_, i) => first + i);
  const mean = (v: Value) => reduceMean(v, axes, { keepDims: true });
  const centred = sub(x!, mean(x!));
  const epsilon = node.attrs.epsilon?.value as number ?? 1e-5;
  const invStd = div(gr.scalar(1), sqrt(add(mean(mul(centred, centred)), gr.scalar(epsilon))));
  const normalised = mul(centred, invStd);
  const d = mul(g, scale!);
  const dx = mul(invStd, sub(sub(d, mean(d)), mul(normalised, mean(mul(d, normalised)))));
  return [dx, mul(g, normalised), bias ? g : null];
}

/**
 * com.microsoft MultiHeadAttention: softmax(q·kᵀ·scale)·v per head over [batch, seq, heads·d]
 * queries, keys and values, with no transposes materialised: one kernel in place of the reshapes,
 * transposes, two batched products and the softmax. Inference only (no `vjp`).
 */
export const MULTI_HEAD_ATTENTION: OpDef = {
  opType: "MultiHeadAttention",
  domain: "com.microsoft",
  infer: ([q, k, v], attrs) => {
    const heads = attrs.num_heads?.value as number;
    const width = q!.shape[2];
    if (q!.shape.length !== 3 || k!.shape.length !== 3 || v!.shape.length !== 3) {
      throw new Error("query, key and value here are [batch, seq, width]");
    }
    if (typeof width === "number" && width % heads !== 0) {
      throw new Error(`width ${width} for ${heads} heads`);
    }
    return [{ dtype: q!.dtype, shape: [q!.shape[0], q!.shape[1], v!.shape[2]] }];
  },
};

/** Multi-head attention of `q`, `k`, `v` [batch, seq, width]; `scale` multiplies the scores. */
export function multiHeadAttention(
  q: Value,
  k: Value,
  v: Value,
  opts: { heads: number; scale: number },
): Value {
  return q.graph.apply(MULTI_HEAD_ATTENTION, [q, k, v], {
    num_heads: attr.int(opts.heads),
    scale: attr.float(opts.scale),
  })[0];
}

/** ONNX InstanceNormalization: each (sample, channel) normalised over the spatial axes. Inference only. */
export const INSTANCE_NORM: OpDef = {
  opType: "InstanceNormalization",
  infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
};

/**
 * Group normalisation of an NCHW tensor (as torch's GroupNorm): the channels in `groups` groups, each
 * group of each sample normalised over its channels and positions, then the per-channel affine
 * `weight`, `bias` [C]. Written as InstanceNormalization over [n, groups, rest], the form every
 * onnxruntime provider has a kernel for (GroupNormalization changed meaning between opsets 18 and 21).
 */
export function groupNorm(
  x: Value,
  weight: Value,
  bias: Value,
  opts: { groups: number; epsilon: number },
): Value {
  const g = x.graph;
  const ones = g.constant(new Array(opts.groups).fill(1));
  const zeros = g.constant(new Array(opts.groups).fill(0));
  const grouped = reshape(x, [0, opts.groups, -1]);
  const normalised = g.apply(INSTANCE_NORM, [grouped, ones, zeros], { epsilon: attr.float(opts.epsilon) })[0];
  const perChannel = (v: Value) => reshape(v, [-1, 1, 1]);
  return add(mul(reshapeLike(normalised, x), perChannel(weight)), perChannel(bias));
}
