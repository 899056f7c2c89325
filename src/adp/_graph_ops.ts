/**
 * ONNX operators the patch branch needs and `src/onnx/ops` does not declare yet (ReduceMax,
 * AveragePool, Resize). They are inference-only: nothing in the patch branch is differentiated, so
 * they carry no `vjp` and autodiff refuses them with VJP_MISSING should anyone try.
 *
 * They belong in `src/onnx/ops/reduce.ts` and `src/onnx/ops/nn.ts`; they live here only while those
 * files are being changed by another engineer, and should move there unchanged.
 *
 * @module
 */
import { attr, type Dim, type OpDef, type Value } from "../onnx/graph.ts";
import { normAxis } from "../onnx/ops/_shape.ts";

/** ONNX ReduceMax (opset 18: axes as an input). */
export const REDUCE_MAX: OpDef = {
  opType: "ReduceMax",
  infer: ([x, axes], attrs, graph) => {
    const keep = (attrs.keepdims?.value ?? 1) === 1;
    const reduced = new Set((graph.constantInts(axes) ?? []).map((a) => normAxis(a, x!.shape.length)));
    const shape: Dim[] = [];
    x!.shape.forEach((d, i) => {
      if (!reduced.has(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    return [{ dtype: x!.dtype, shape }];
  },
};

/** Spatial size after a pooling window: floor((size + pads − kernel) / stride) + 1. */
function pooledDim(size: Dim, kernel: number, stride: number, pads: number): Dim {
  return typeof size === "number" ? Math.floor((size + pads - kernel) / stride) + 1 : `?pool`;
}

/** ONNX AveragePool over the two trailing axes of an NCHW tensor. */
export const AVERAGE_POOL: OpDef = {
  opType: "AveragePool",
  infer: ([x], attrs) => {
    if (x!.shape.length !== 4) throw new Error(`AveragePool here takes NCHW, got rank ${x!.shape.length}`);
    const [kh, kw] = attrs.kernel_shape.value as number[];
    const [sh, sw] = (attrs.strides?.value as number[]) ?? [1, 1];
    const [pt, pl, pb, pr] = (attrs.pads?.value as number[]) ?? [0, 0, 0, 0];
    const [n, c, h, w] = x!.shape;
    const oh = pooledDim(h, kh, sh, pt + pb), ow = pooledDim(w, kw, sw, pl + pr);
    // A symbolic dim that the window leaves unchanged keeps its name, so later ops can match it.
    const same = (d: Dim, o: Dim, k: number, s: number, p: number) =>
      typeof d === "string" && s === 1 && p === k - 1 ? d : o;
    return [{
      dtype: x!.dtype,
      shape: [n, c, same(h, oh, kh, sh, pt + pb), same(w, ow, kw, sw, pl + pr)],
    }];
  },
};

/** ONNX Resize (opset 19) with constant scales, for integer upsampling of feature maps. */
export const RESIZE: OpDef = {
  opType: "Resize",
  infer: ([x, , scales], _attrs, graph) => {
    const data = graph.constantData(scales);
    if (!(data instanceof Float32Array) || data.length !== x!.shape.length) {
      throw new Error("Resize here needs constant scales, one per axis");
    }
    return [{
      dtype: x!.dtype,
      shape: x!.shape.map((d, i) => (typeof d === "number" ? Math.floor(d * data[i]) : `?resize`)),
    }];
  },
};

/** Maximum over `axes`. */
export function reduceMax(x: Value, axes: readonly number[], opts: { keepDims: boolean }): Value {
  return x.graph.apply(REDUCE_MAX, [x, x.graph.int64s(axes)], {
    keepdims: attr.int(opts.keepDims ? 1 : 0),
  })[0];
}

/**
 * Average pooling of an NCHW tensor with a square window; `pad` zeros on every side are not counted
 * in the average (count_include_pad = 0), so border cells average only real neighbours.
 */
export function averagePool(x: Value, opts: { kernel: number; stride: number; pad: number }): Value {
  const { kernel, stride, pad } = opts;
  return x.graph.apply(AVERAGE_POOL, [x], {
    kernel_shape: attr.ints([kernel, kernel]),
    strides: attr.ints([stride, stride]),
    pads: attr.ints([pad, pad, pad, pad]),
    count_include_pad: attr.int(0),
  })[0];
}

/** Bilinear upsampling of an NCHW tensor's two trailing axes by an integer factor (half-pixel centres). */
export function upsampleLinear(x: Value, factor: number): Value {
  const g = x.graph;
  return g.apply(RESIZE, [x, null, g.constant([1, 1, factor, factor])], {
    mode: attr.string("linear"),
    coordinate_transformation_mode: attr.string("half_pixel"),
  })[0];
}
