/**
 * Spatial resampling of NCHW feature maps: average pooling and resizing, for the patch branch's
 * feature head. Inference only: they have no `vjp`, so autodiff refuses them with VJP_MISSING.
 *
 * @module
 */
import { attr, type Dim, type OpDef, type Value } from "../graph.ts";

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
