/**
 * Matrix products and convolution.
 *
 * @module
 */
import { attr, type Dim, type OpDef, type Value } from "../graph.ts";
import { transpose } from "./shape.ts";
import { broadcastShapes, dimsCompatible } from "./_shape.ts";

/** ONNX MatMul (numpy semantics, batch dims broadcast). */
export const MATMUL: OpDef = {
  opType: "MatMul",
  infer: ([a, b]) => {
    if (a!.shape.length < 2 || b!.shape.length < 2) throw new Error("MatMul here takes operands of rank ≥ 2");
    const [m, k1] = a!.shape.slice(-2);
    const [k2, n] = b!.shape.slice(-2);
    if (!dimsCompatible(k1, k2)) throw new Error(`inner dims ${k1} and ${k2} differ`);
    const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    return [{ dtype: a!.dtype, shape: [...batch, m, n] }];
  },
  // Batch axes that broadcast come back in the gradient's shape; the walker sums them away.
  vjp: ({ inputs: [a, b] }, [g]) => [matMul(g!, swapLastAxes(b!)), matMul(swapLastAxes(a!), g!)],
};

/** ONNX Conv, 2-D, no dilation or groups (a patch embedding; the diffusion models' convolutions). */
export const CONV: OpDef = {
  opType: "Conv",
  infer: ([x, w], attrs) => {
    const strides = (attrs.strides?.value as number[]) ?? [1, 1];
    const [pt, pl, pb, pr] = (attrs.pads?.value as number[]) ?? [0, 0, 0, 0];
    const [n, c, h, wd] = x!.shape;
    const [m, cw, kh, kw] = w!.shape;
    if (!dimsCompatible(c, cw)) throw new Error(`input channels ${c} and kernel channels ${cw} differ`);
    const out = (size: Dim, k: Dim, s: number, pads: number): Dim =>
      typeof size === "number" && typeof k === "number" ? Math.floor((size + pads - k) / s) + 1 : `?conv`;
    return [{
      dtype: x!.dtype,
      shape: [n, m, out(h, kh, strides[0], pt + pb), out(wd, kw, strides[1], pl + pr)],
    }];
  },
};

/** a @ b */
export function matMul(a: Value, b: Value): Value {
  return a.graph.apply(MATMUL, [a, b])[0];
}

/**
 * 2-D convolution: valid (unpadded) unless `pad` zeros are added on every side; `bias` [out
 * channels] is added when given.
 */
export function conv2d(x: Value, weight: Value, opts: { stride: number; pad?: number; bias?: Value }): Value {
  const [, , kh, kw] = weight.shape as number[];
  const pad = opts.pad ?? 0;
  return x.graph.apply(CONV, opts.bias ? [x, weight, opts.bias] : [x, weight], {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints([opts.stride, opts.stride]),
    ...(pad ? { pads: attr.ints([pad, pad, pad, pad]) } : {}),
  })[0];
}

/** x with its last two axes swapped. */
export function swapLastAxes(x: Value): Value {
  const rank = x.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return transpose(x, perm);
}
