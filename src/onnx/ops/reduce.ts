/**
 * Reductions (opset 18: axes as an input).
 *
 * @module
 */
import { attr, type Dim, type OpDef, type Value } from "../graph.ts";
import { normAxis } from "./_shape.ts";

/** ONNX ReduceSum. */
export const REDUCE_SUM: OpDef = {
  opType: "ReduceSum",
  infer: ([x, axes], attrs, graph) => {
    const keep = (attrs.keepdims?.value ?? 1) === 1;
    const ax = new Set((graph.constantInts(axes) ?? []).map((a) => normAxis(a, x!.shape.length)));
    const shape: Dim[] = [];
    x!.shape.forEach((d, i) => {
      if (!ax.has(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    return [{ dtype: x!.dtype, shape }];
  },
};

/** Sum over `axes`. */
export function reduceSum(x: Value, axes: readonly number[], opts: { keepDims: boolean }): Value {
  return x.graph.apply(REDUCE_SUM, [x, x.graph.int64s(axes)], {
    keepdims: attr.int(opts.keepDims ? 1 : 0),
  })[0];
}
