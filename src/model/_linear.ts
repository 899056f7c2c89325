/**
 * Linear layers in a graph's precision: the weight stored as float32, float16 or per-channel int8,
 * and the product emitted as the ops that precision runs fastest with. At `fp32` the nodes are
 * exactly MatMul and Add, so the text VJP graph differentiates them as before.
 *
 * @module
 */
import {
  add,
  cast,
  dynamicQuantizeMatMul,
  type GraphBuilder,
  matMul,
  quantizeColumns,
  toFloat16Bits,
  type Value,
} from "../onnx/mod.ts";
import type { FloatTensor } from "../clip/mod.ts";
import type { Precision } from "./precision.ts";

/** A linear layer's initializers: `x @ weight (+ bias)`, weight [in, out]. */
export interface LinearParams {
  readonly precision: Precision;
  /** [in, out]: float32, float16, or int8 with `scale`. */
  readonly weight: Value;
  /** [out] float32 per-column scales of an int8 weight. */
  readonly scale?: Value;
  /** [out], in the precision's compute type (float16 at fp16, else float32). */
  readonly bias?: Value;
}

/** The element type activations are multiplied in. */
export function computeType(precision: Precision): "float32" | "float16" {
  return precision === "fp16" ? "float16" : "float32";
}

/**
 * Adds a linear layer's weights. `weight` is `[out, in]` as checkpoints store it and becomes
 * `[in, out]`, optionally scaled, so that the graph computes `x @ W.T` with no Transpose at run time.
 */
export function linearParams(
  g: GraphBuilder,
  name: string,
  w: { weight: FloatTensor; bias?: Float32Array; scale?: number; orientation?: "out-in" | "in-out" },
  precision: Precision,
): LinearParams {
  const { rows, cols, data } = inOut(w.weight, w.orientation ?? "out-in", w.scale ?? 1);
  const bias = w.bias && floatInitializer(g, `${name}_bias`, [cols], w.bias, computeType(precision));
  if (precision === "int8") {
    const q = quantizeColumns(data, rows, cols);
    return {
      precision,
      weight: g.initializer(name, "int8", [rows, cols], q.weight),
      scale: g.initializer(`${name}_scale`, "float32", [cols], q.scale),
      bias,
    };
  }
  return { precision, weight: floatInitializer(g, name, [rows, cols], data, computeType(precision)), bias };
}

/**
 * `x @ W + b`. The result is in the precision's compute type; `x` is cast to it first when needed.
 */
export function linear(x: Value, p: LinearParams): Value {
  if (p.precision === "int8") return dynamicQuantizeMatMul(toType(x, "float32"), p.weight, p.scale!, p.bias);
  const y = matMul(toType(x, computeType(p.precision)), p.weight);
  return p.bias ? add(y, p.bias) : y;
}

/** `x` in element type `dtype` (a Cast node only when it is not already). */
export function toType(x: Value, dtype: "float32" | "float16"): Value {
  return x.dtype === dtype ? x : cast(x, dtype);
}

/** A float initializer in `dtype` (float16 stored as its bit patterns). */
export function floatInitializer(
  g: GraphBuilder,
  name: string,
  shape: readonly number[],
  data: Float32Array,
  dtype: "float32" | "float16",
): Value {
  return dtype === "float16"
    ? g.initializer(name, "float16", shape, toFloat16Bits(data))
    : g.initializer(name, "float32", shape, data);
}

/** The weight as a row-major [in, out] matrix, times `scale`. */
function inOut(
  t: FloatTensor,
  orientation: "out-in" | "in-out",
  scale: number,
): { rows: number; cols: number; data: Float32Array } {
  if (orientation === "in-out") {
    const [rows, cols] = t.shape;
    return { rows, cols, data: scale === 1 ? t.data : t.data.map((v) => v * scale) };
  }
  const [outs, ins] = t.shape;
  const data = new Float32Array(outs * ins);
  for (let r = 0; r < outs; r++) {
    for (let c = 0; c < ins; c++) data[c * outs + r] = t.data[r * ins + c] * scale;
  }
  return { rows: ins, cols: outs, data };
}
