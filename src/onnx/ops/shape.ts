/**
 * Movement and indexing operators. Shape-like inputs (target shapes, axes, slice bounds) are int64
 * tensors in ONNX; the helpers here take plain numbers and emit shared constants.
 *
 * @module
 */
import { attr, type Dim, type OpDef, type Value } from "../graph.ts";
import { dimsCompatible, fixedProduct, normAxis, unknownDim } from "./_shape.ts";

/** ONNX Reshape; `0` copies the input dim, `-1` is inferred. */
export const RESHAPE: OpDef = {
  opType: "Reshape",
  infer: ([x, shape], _attrs, graph) => {
    const target = graph.constantInts(shape);
    if (!target) return [{ dtype: x!.dtype, shape: shape!.shape.map(() => unknownDim()) }];
    const dims: Dim[] = target.map((d, i) => (d === 0 ? x!.shape[i] : d));
    const inferred = dims.indexOf(-1);
    if (inferred >= 0) {
      const total = fixedProduct(x!.shape);
      const rest = fixedProduct(dims.filter((_, i) => i !== inferred));
      dims[inferred] = total !== undefined && rest !== undefined ? total / rest : unknownDim();
    }
    const before = fixedProduct(x!.shape), after = fixedProduct(dims);
    if (before !== undefined && after !== undefined && before !== after) {
      throw new Error(`${before} elements cannot become [${dims}]`);
    }
    return [{ dtype: x!.dtype, shape: dims }];
  },
};

/** ONNX Transpose. */
export const TRANSPOSE: OpDef = {
  opType: "Transpose",
  infer: ([x], attrs) => {
    const perm = attrs.perm.value as number[];
    if (perm.length !== x!.shape.length) {
      throw new Error(`perm [${perm}] does not fit rank ${x!.shape.length}`);
    }
    return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]) }];
  },
};

/** ONNX Slice with constant or dynamic bounds (step 1). */
export const SLICE: OpDef = {
  opType: "Slice",
  infer: ([x, starts, ends, axes], _attrs, graph) => {
    const s = graph.constantInts(starts), e = graph.constantInts(ends), ax = graph.constantInts(axes);
    if (!ax) throw new Error("slice axes must be constant");
    const shape = [...x!.shape];
    ax.forEach((axis, i) => {
      const a = normAxis(axis, shape.length);
      const size = shape[a];
      if (s && e && typeof size === "number") {
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
        shape[a] = Math.max(0, clamp(e[i]) - clamp(s[i]));
      } else if (s && s[i] === 0 && !e) {
        // A dynamic end from 0: the length is the end itself, which is only known at run time.
        shape[a] = unknownDim();
      } else shape[a] = unknownDim();
    });
    return [{ dtype: x!.dtype, shape }];
  },
};

/** ONNX Gather along one axis. */
export const GATHER: OpDef = {
  opType: "Gather",
  infer: ([data, indices], attrs) => {
    const axis = normAxis(attrs.axis?.value as number ?? 0, data!.shape.length);
    const shape = [...data!.shape.slice(0, axis), ...indices!.shape, ...data!.shape.slice(axis + 1)];
    return [{ dtype: data!.dtype, shape }];
  },
};

/** ONNX Concat. */
export const CONCAT: OpDef = {
  opType: "Concat",
  infer: (inputs, attrs) => {
    const first = inputs[0]!;
    const axis = normAxis(attrs.axis.value as number, first.shape.length);
    let total: Dim = 0;
    for (const v of inputs) {
      v!.shape.forEach((d, i) => {
        if (i !== axis && !dimsCompatible(d, first.shape[i])) {
          throw new Error(`dim ${i} differs: ${d} vs ${first.shape[i]}`);
        }
      });
      const d = v!.shape[axis];
      total = typeof total === "number" && typeof d === "number" ? total + d : unknownDim();
    }
    const shape = [...first.shape];
    shape[axis] = total;
    return [{ dtype: first.dtype, shape }];
  },
};

/** ONNX Split into parts of constant sizes. */
export const SPLIT: OpDef = {
  opType: "Split",
  infer: ([x, split], attrs, graph) => {
    const axis = normAxis(attrs.axis?.value as number ?? 0, x!.shape.length);
    const sizes = graph.constantInts(split);
    if (!sizes) throw new Error("split sizes must be constant");
    const total = x!.shape[axis];
    if (typeof total === "number" && sizes.reduce((a, b) => a + b, 0) !== total) {
      throw new Error(`sizes [${sizes}] do not add up to ${total}`);
    }
    return sizes.map((size) => {
      const shape = [...x!.shape];
      shape[axis] = size;
      return { dtype: x!.dtype, shape };
    });
  },
};

/** ONNX Unsqueeze (opset 13: axes as input). */
export const UNSQUEEZE: OpDef = {
  opType: "Unsqueeze",
  infer: ([x, axes], _attrs, graph) => {
    const ax = graph.constantInts(axes)!;
    const rank = x!.shape.length + ax.length;
    const inserted = new Set(ax.map((a) => normAxis(a, rank)));
    const shape: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) shape.push(inserted.has(i) ? 1 : x!.shape[j++]);
    return [{ dtype: x!.dtype, shape }];
  },
};

/** ONNX Squeeze (opset 13: axes as input). */
export const SQUEEZE: OpDef = {
  opType: "Squeeze",
  infer: ([x, axes], _attrs, graph) => {
    const removed = new Set(graph.constantInts(axes)!.map((a) => normAxis(a, x!.shape.length)));
    for (const a of removed) {
      if (typeof x!.shape[a] === "number" && x!.shape[a] !== 1) {
        throw new Error(`axis ${a} has size ${x!.shape[a]}`);
      }
    }
    return [{ dtype: x!.dtype, shape: x!.shape.filter((_, i) => !removed.has(i)) }];
  },
};

/** ONNX Expand (broadcast to a shape given as a tensor). */
export const EXPAND: OpDef = {
  opType: "Expand",
  infer: ([x, shape]) => {
    const rank = Math.max(x!.shape.length, shape!.shape[0] as number);
    return [{ dtype: x!.dtype, shape: Array.from({ length: rank }, () => unknownDim()) }];
  },
};

/** ONNX Shape. */
export const SHAPE: OpDef = {
  opType: "Shape",
  infer: ([x], attrs) => {
    const rank = x!.shape.length;
    const start = attrs.start ? normAxis(attrs.start.value as number, rank) : 0;
    const end = attrs.end ? Math.min(rank, normAxis(attrs.end.value as number, rank + 1)) : rank;
    return [{ dtype: "int64", shape: [end - start] }];
  },
};

/** Reshape to fixed dims (0 copies, -1 infers). */
export function reshape(x: Value, dims: readonly number[]): Value {
  return x.graph.apply(RESHAPE, [x, x.graph.int64s(dims)])[0];
}

/** Reshape to a shape computed at run time. */
export function reshapeDynamic(x: Value, shape: Value): Value {
  return x.graph.apply(RESHAPE, [x, shape])[0];
}

/** Permute axes. */
export function transpose(x: Value, perm: readonly number[]): Value {
  return x.graph.apply(TRANSPOSE, [x], { perm: attr.ints(perm) })[0];
}

/** x[start:end] along each of `axes`; bounds are numbers or int64 [1] values computed at run time. */
export function slice(
  x: Value,
  starts: readonly number[] | Value,
  ends: readonly number[] | Value,
  axes: readonly number[],
): Value {
  const g = x.graph;
  const asValue = (v: readonly number[] | Value) => ("graph" in v ? v : g.int64s(v));
  return g.apply(SLICE, [x, asValue(starts), asValue(ends), g.int64s(axes)])[0];
}

/** data[indices] along `axis`. */
export function gather(data: Value, indices: Value, axis = 0): Value {
  return data.graph.apply(GATHER, [data, indices], { axis: attr.int(axis) })[0];
}

/** Concatenate along `axis`. */
export function concat(values: readonly Value[], axis: number): Value {
  return values[0].graph.apply(CONCAT, values, { axis: attr.int(axis) })[0];
}

/** Split into consecutive parts of the given sizes along `axis`. */
export function split(x: Value, sizes: readonly number[], axis: number): Value[] {
  return x.graph.apply(SPLIT, [x, x.graph.int64s(sizes)], { axis: attr.int(axis) });
}

/** Insert size-1 axes. */
export function unsqueeze(x: Value, axes: readonly number[]): Value {
  return x.graph.apply(UNSQUEEZE, [x, x.graph.int64s(axes)])[0];
}

/** Remove size-1 axes. */
export function squeeze(x: Value, axes: readonly number[]): Value {
  return x.graph.apply(SQUEEZE, [x, x.graph.int64s(axes)])[0];
}

/** Broadcast to a run-time shape. */
export function expand(x: Value, shape: Value): Value {
  return x.graph.apply(EXPAND, [x, shape])[0];
}

/** The run-time shape of x, optionally dims [start, end). */
export function shapeOf(x: Value, start?: number, end?: number): Value {
  const attrs: Record<string, ReturnType<typeof attr.int>> = {};
  if (start !== undefined) attrs.start = attr.int(start);
  if (end !== undefined) attrs.end = attr.int(end);
  return x.graph.apply(SHAPE, [x], attrs)[0];
}
