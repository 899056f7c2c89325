/**
 * Movement and indexing operators. Shape-like inputs (target shapes, axes, slice bounds) are int64
 * tensors in ONNX; the helpers here take plain numbers and emit shared constants.
 *
 * @module
 */
import { attr, type Dim, type GraphBuilder, type Node, type OpDef, type Value } from "../graph.ts";
import { ErrorCode, GraphError } from "../../errors.ts";
import { add, cast, less, maximum, minimum, sub, where } from "./elementwise.ts";
import { dimsCompatible, fixedProduct, isUnknown, normAxis, unknownDim } from "./_shape.ts";

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
  vjp: ({ inputs: [x] }, [g]) => [reshapeLike(g!, x!), null],
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
  vjp: ({ attrs }, [g]) => {
    const perm = attrs.perm.value as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [transpose(g!, inverse)];
  },
};

/** ONNX Slice with constant or dynamic bounds (step 1). */
export const SLICE: OpDef = {
  opType: "Slice",
  infer: ([x, starts, ends, axes], _attrs, graph) => {
    const s = graph.constantInts(starts), ax = graph.constantInts(axes);
    const e = knownDims(ends, graph);
    if (!ax) throw new Error("slice axes must be constant");
    const shape = [...x!.shape];
    ax.forEach((axis, i) => {
      const a = normAxis(axis, shape.length);
      const size = shape[a];
      const end = e?.[i];
      if (s && typeof end === "number" && typeof size === "number") {
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
        shape[a] = Math.max(0, clamp(end) - clamp(s[i]));
      } else if (s && s[i] === 0 && end !== undefined && typeof end !== "number" && !isUnknown(end)) {
        // Sliced from 0 to another tensor's symbolic dim (the text tower cuts positions to `seq`):
        // the result has that dim, assuming it fits, which onnxruntime's clamping would hide anyway.
        shape[a] = end;
      } else shape[a] = unknownDim();
    });
    return [{ dtype: x!.dtype, shape }];
  },
  vjp: (node, [g]) => [sliceGradient(node, g!), ...node.inputs.slice(1).map(() => null)],
};

/** ONNX Gather along one axis. */
export const GATHER: OpDef = {
  opType: "Gather",
  infer: ([data, indices], attrs) => {
    const axis = normAxis(attrs.axis?.value as number ?? 0, data!.shape.length);
    const shape = [...data!.shape.slice(0, axis), ...indices!.shape, ...data!.shape.slice(axis + 1)];
    return [{ dtype: data!.dtype, shape }];
  },
  vjp: (node, [g]) => [gatherGradient(node, g!), null],
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
  vjp: ({ inputs, attrs }, [g]) => {
    const axis = normAxis(attrs.axis.value as number, g!.shape.length);
    const gr = g!.graph;
    const lengths = inputs.map((v) => v!.shape[axis]);
    if (lengths.every((d) => typeof d === "number")) {
      let offset = 0;
      return lengths.map((d) => {
        const start = offset;
        offset += d as number;
        return slice(g!, [start], [offset], [axis]);
      });
    }
    // Some lengths are known only at run time: offsets are running sums of the inputs' dims.
    let offset = gr.int64s([0]);
    return inputs.map((v) => {
      const end = add(offset, shapeOf(v!, axis, axis + 1));
      const part = assumeShape(slice(g!, offset, end, [axis]), v!.shape);
      offset = end;
      return part;
    });
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
  vjp: ({ outputs, attrs }, grads) => {
    // An output that does not reach the loss contributes zeros, so the parts still line up.
    const parts = outputs.map((out, i) => grads[i] ?? zerosLike(out));
    return [concat(parts, attrs.axis?.value as number ?? 0), null];
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
  vjp: ({ inputs: [, axes] }, [g]) => [g!.graph.apply(SQUEEZE, [g!, axes])[0], null],
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
  vjp: ({ inputs }, [g]) => {
    const [x, axes] = inputs;
    // Without axes every size-1 axis went; only the input's shape says which.
    const restored = axes ? g!.graph.apply(UNSQUEEZE, [g!, axes])[0] : reshapeLike(g!, x!);
    return inputs.map((_, i) => (i === 0 ? restored : null));
  },
};

/** ONNX Expand (broadcast to a shape given as a tensor). */
export const EXPAND: OpDef = {
  opType: "Expand",
  infer: ([x, shape]) => {
    const rank = Math.max(x!.shape.length, shape!.shape[0] as number);
    return [{ dtype: x!.dtype, shape: Array.from({ length: rank }, () => unknownDim()) }];
  },
  // The walker sums a gradient over the axes its input was broadcast along: that is Expand's rule.
  vjp: (_node, [g]) => [g, null],
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

/** ONNX Pad (opset 18: pads and axes as inputs), constant mode with zero fill. */
export const PAD: OpDef = {
  opType: "Pad",
  infer: ([x, pads, , axes], _attrs, graph) => {
    const rank = x!.shape.length;
    const ax = axes ? graph.constantInts(axes)?.map((a) => normAxis(a, rank)) : [...Array(rank).keys()];
    const p = graph.constantInts(pads);
    const shape = [...x!.shape];
    ax?.forEach((a, i) => {
      const d = shape[a];
      shape[a] = p && typeof d === "number" ? d + p[i] + p[i + ax.length] : unknownDim();
    });
    return [{ dtype: x!.dtype, shape: ax ? shape : shape.map(() => unknownDim()) }];
  },
};

/** ONNX NonZero: the indices [rank, count] of the non-zero elements. */
export const NONZERO: OpDef = {
  opType: "NonZero",
  infer: ([x]) => [{ dtype: "int64", shape: [x!.shape.length, unknownDim()] }],
};

/** ONNX ScatterND: `data` with `updates` written (or, with `reduction`, accumulated) at `indices`. */
export const SCATTER_ND: OpDef = {
  opType: "ScatterND",
  infer: ([data, indices, updates]) => {
    if (data!.dtype !== updates!.dtype) {
      throw new Error(`element types differ: ${data!.dtype} and ${updates!.dtype}`);
    }
    if (indices!.dtype !== "int64") throw new Error(`indices are ${indices!.dtype}, not int64`);
    return [{ dtype: data!.dtype, shape: data!.shape }];
  },
};

/** ONNX ConstantOfShape with its default fill, float32 zero. */
export const CONSTANT_OF_SHAPE: OpDef = {
  opType: "ConstantOfShape",
  infer: ([shape], _attrs, graph) => {
    const dims = graph.constantInts(shape);
    return [{
      dtype: "float32",
      shape: dims ?? Array.from({ length: shape!.shape[0] as number }, () => unknownDim()),
    }];
  },
};

/** ONNX Size: the element count as an int64 scalar. */
export const SIZE: OpDef = { opType: "Size", infer: () => [{ dtype: "int64", shape: [] }] };

/**
 * The dims an int64 shape-like value holds when they are known at build time: constants, the
 * output of Shape (the input's static dims, possibly symbolic), and Concats of those.
 */
export function knownDims(value: Value | null, graph: GraphBuilder): Dim[] | undefined {
  const constant = graph.constantInts(value);
  if (constant) return constant;
  const node = value?.producer;
  if (node?.op === SHAPE) {
    const x = node.inputs[0]!;
    const rank = x.shape.length;
    const start = node.attrs.start ? normAxis(node.attrs.start.value as number, rank) : 0;
    const end = node.attrs.end ? Math.min(rank, normAxis(node.attrs.end.value as number, rank + 1)) : rank;
    return x.shape.slice(start, end);
  }
  if (node?.op === CONCAT) {
    const parts = node.inputs.map((v) => knownDims(v, graph));
    return parts.every((p) => p) ? parts.flat() as Dim[] : undefined;
  }
  return undefined;
}

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

/** Pads with zeros along `axes`: `pads` is int64 [2·axes.length], all begins then all ends. */
export function pad(x: Value, pads: Value, axes: readonly number[]): Value {
  return x.graph.apply(PAD, [x, pads, null, x.graph.int64s(axes)])[0];
}

/** The indices [rank(x), count] of x's non-zero elements. */
export function nonZero(x: Value): Value {
  return x.graph.apply(NONZERO, [x])[0];
}

/** `data` with `updates` added at `indices` (int64 [..., k]); repeated indices accumulate. */
export function scatterNDAdd(data: Value, indices: Value, updates: Value): Value {
  return data.graph.apply(SCATTER_ND, [data, indices, updates], { reduction: attr.string("add") })[0];
}

/** Float32 zeros of a run-time shape. */
export function constantOfShape(shape: Value): Value {
  return shape.graph.apply(CONSTANT_OF_SHAPE, [shape])[0];
}

/** The element count of x as an int64 scalar. */
export function sizeOf(x: Value): Value {
  return x.graph.apply(SIZE, [x])[0];
}

/**
 * x unchanged, with a static shape the builder could not infer itself but the caller knows, e.g.
 * a gradient reshaped to its input's run-time shape. Keeping that knowledge spares later
 * shape-dependent steps (the autodiff walker's broadcast sums) their run-time fallbacks.
 */
export function assumeShape(x: Value, shape: readonly Dim[]): Value {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  const op: OpDef = {
    opType: "Identity",
    infer: ([v]) => [{ dtype: v!.dtype, shape }],
    vjp: (_node, [g]) => [g],
  };
  return x.graph.apply(op, [x], {}, "assumed")[0];
}

/** Float32 zeros shaped like x. */
export function zerosLike(x: Value): Value {
  if (x.shape.every((d) => typeof d === "number")) {
    return constantOfShape(x.graph.int64s(x.shape as number[]));
  }
  return assumeShape(constantOfShape(shapeOf(x)), x.shape);
}

/**
 * x reshaped to `like`'s shape. Fixed dims are written out and a symbolic dim that x has at the same
 * position is copied with `0`, so the result keeps its static shape; otherwise the target is
 * `like`'s run-time shape.
 */
export function reshapeLike(x: Value, like: Value): Value {
  const target = like.shape.map((d, i) => (typeof d === "number" ? d : x.shape[i] === d ? 0 : undefined));
  if (target.every((d) => d !== undefined)) return reshape(x, target as number[]);
  return assumeShape(reshapeDynamic(x, shapeOf(like)), like.shape);
}

function missing(op: string, why: string): GraphError {
  return new GraphError(ErrorCode.VJP_MISSING, `${op} has no gradient rule ${why}`);
}

/** Slice's rule: the gradient padded back with zeros where the slice cut the input. */
function sliceGradient(node: Node, g: Value): Value {
  const [x, starts, ends, axesValue, steps] = node.inputs;
  const gr = g.graph;
  if (steps && !gr.constantInts(steps)?.every((s) => s === 1)) {
    throw missing("Slice", "for steps other than 1");
  }
  const rank = x!.shape.length;
  const axes = gr.constantInts(axesValue)!.map((a) => normAxis(a, rank));
  const s = gr.constantInts(starts), e = gr.constantInts(ends);
  const dims = axes.map((a) => x!.shape[a]);
  let pads: Value;
  if (s && e && dims.every((d) => typeof d === "number")) {
    const clamp = (v: number, size: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
    const begins = axes.map((_, i) => clamp(s[i], dims[i] as number));
    const endPads = axes.map((_, i) =>
      (dims[i] as number) - Math.max(clamp(e[i], dims[i] as number), begins[i])
    );
    pads = gr.int64s([...begins, ...endPads]);
  } else {
    // The same clamping as above, on int64 tensors, for bounds or dims known only at run time.
    const size = gather(shapeOf(x!), gr.int64s(axes), 0);
    const zero = gr.int64(0);
    const clamp = (v: Value) => maximum(minimum(where(less(v, zero), add(v, size), v), size), zero);
    const begin = clamp(starts!);
    pads = concat([begin, sub(size, maximum(clamp(ends!), begin))], 0);
  }
  return assumeShape(pad(g, pads, axes), x!.shape);
}

/**
 * Gather's rule: zeros of the data's shape with the gradient rows added back at the gathered
 * indices (ScatterND with `add`, so an index gathered twice receives both rows). ScatterND indexes
 * the leading axis, so the gathered axis is moved to the front and back again.
 */
function gatherGradient(node: Node, g: Value): Value {
  const [data, indices] = node.inputs;
  const gr = g.graph;
  const rank = data!.shape.length, q = indices!.shape.length;
  const axis = normAxis(node.attrs.axis?.value as number ?? 0, rank);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const toFront = [axis, ...range(0, axis), ...range(axis + 1, rank)];
  const isIdentity = (perm: number[]) => perm.every((p, i) => p === i);
  const zeros = zerosLike(data!);
  const zerosFront = isIdentity(toFront) ? zeros : transpose(zeros, toFront);
  const gPerm = [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, rank + q - 1)];
  const updates = isIdentity(gPerm) ? g : transpose(g, gPerm);
  let index = indices!.dtype === "int64" ? indices! : cast(indices!, "int64");
  if (!gr.constantInts(indices)?.every((i) => i >= 0)) {
    const size = gather(shapeOf(data!), gr.int64(axis), 0);
    index = where(less(index, gr.int64(0)), add(index, size), index);
  }
  const scattered = scatterNDAdd(zerosFront, unsqueeze(index, [-1]), updates);
  const back = toFront.map((_, i) => toFront.indexOf(i));
  return assumeShape(isIdentity(back) ? scattered : transpose(scattered, back), data!.shape);
}
