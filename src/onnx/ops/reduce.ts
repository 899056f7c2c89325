/**
 * Reductions (opset 18: axes as an input).
 *
 * @module
 */
import {
  attr,
  type Attrs,
  type Dim,
  type GraphBuilder,
  type Node,
  type OpDef,
  type Value,
} from "../graph.ts";
import { ErrorCode, GraphError } from "../../errors.ts";
import { cast, div } from "./elementwise.ts";
import { assumeShape, expand, shapeOf, sizeOf, unsqueeze } from "./shape.ts";
import { normAxis } from "./_shape.ts";

function reduceInfer([x, axes]: readonly (Value | null)[], attrs: Attrs, graph: GraphBuilder) {
  const keep = (attrs.keepdims?.value ?? 1) === 1;
  const ax = new Set((graph.constantInts(axes) ?? []).map((a) => normAxis(a, x!.shape.length)));
  const shape: Dim[] = [];
  x!.shape.forEach((d, i) => {
    if (!ax.has(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: x!.dtype, shape }];
}

/** ONNX ReduceSum. */
export const REDUCE_SUM: OpDef = {
  opType: "ReduceSum",
  infer: reduceInfer,
  vjp: (node, [g]) => node.inputs.map((_, i) => (i === 0 ? spreadBack(node, g!) : null)),
};

/** ONNX ReduceMean. */
export const REDUCE_MEAN: OpDef = {
  opType: "ReduceMean",
  infer: reduceInfer,
  vjp: (node, [g]) => {
    const x = node.inputs[0]!;
    const [y] = node.outputs;
    const reduced = reducedAxes(node).map((a) => x.shape[a]);
    const count = reduced.every((d) => typeof d === "number")
      ? x.graph.scalar(reduced.reduce<number>((p, d) => p * (d as number), 1))
      : div(cast(sizeOf(x), "float32"), cast(sizeOf(y), "float32"));
    const grad = div(spreadBack(node, g!), count);
    return node.inputs.map((_, i) => (i === 0 ? grad : null));
  },
};

/**
 * ONNX ReduceMax (opset 18: axes as an input). Inference only (the patch search): it has no `vjp`,
 * so autodiff refuses it with VJP_MISSING.
 */
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

/** The axes a reduction node sums over, normalised; all of them when none are given. */
function reducedAxes(node: Node): number[] {
  const [x, axes] = node.inputs;
  const rank = x!.shape.length;
  const given = axes ? x!.graph.constantInts(axes) : [];
  if (!given) {
    throw new GraphError(ErrorCode.VJP_MISSING, `${node.op.opType} has no gradient rule for run-time axes`);
  }
  if (given.length === 0 && node.attrs.noop_with_empty_axes?.value === 1) return [];
  return given.length ? given.map((a) => normAxis(a, rank)) : [...Array(rank).keys()];
}

/** A reduction's gradient: each input element receives the gradient of the sum it went into. */
function spreadBack(node: Node, g: Value): Value {
  const x = node.inputs[0]!;
  const axes = reducedAxes(node);
  const kept = (node.attrs.keepdims?.value ?? 1) === 1 || axes.length === 0 ? g : unsqueeze(g, axes);
  return assumeShape(expand(kept, shapeOf(x)), x.shape);
}

/** Sum over `axes`. */
export function reduceSum(x: Value, axes: readonly number[], opts: { keepDims: boolean }): Value {
  return x.graph.apply(REDUCE_SUM, [x, x.graph.int64s(axes)], {
    keepdims: attr.int(opts.keepDims ? 1 : 0),
  })[0];
}

/** Mean over `axes`. */
export function reduceMean(x: Value, axes: readonly number[], opts: { keepDims: boolean }): Value {
  return x.graph.apply(REDUCE_MEAN, [x, x.graph.int64s(axes)], {
    keepdims: attr.int(opts.keepDims ? 1 : 0),
  })[0];
}

/**
 * Sum over axes chosen at run time (int64 [k]), keeping them as size 1; an empty list sums nothing.
 * The static shape is x's: the caller knows the result's real shape and states it with `assumeShape`.
 */
export function reduceSumAxesAt(x: Value, axes: Value): Value {
  return x.graph.apply(REDUCE_SUM, [x, axes], {
    keepdims: attr.int(1),
    noop_with_empty_axes: attr.int(1),
  })[0];
}

/** Maximum over `axes`. */
export function reduceMax(x: Value, axes: readonly number[], opts: { keepDims: boolean }): Value {
  return x.graph.apply(REDUCE_MAX, [x, x.graph.int64s(axes)], {
    keepdims: attr.int(opts.keepDims ? 1 : 0),
  })[0];
}
