/**
 * Neural-network operators with fast onnxruntime kernels.
 *
 * @module
 */
import { attr, type OpDef, type Value } from "../graph.ts";
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
};

/** ONNX Softmax (opset 13: over one axis). */
export const SOFTMAX: OpDef = {
  opType: "Softmax",
  infer: ([x], attrs) => {
    normAxis(attrs.axis?.value as number ?? -1, x!.shape.length);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
};

/** ONNX Gelu (opset 20), exact erf form. */
export const GELU: OpDef = {
  opType: "Gelu",
  infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
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
