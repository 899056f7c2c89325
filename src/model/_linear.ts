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
  const orientation = w.orientation ?? "out-in";
  const [outs, ins] = orientation === "out-in" ? w.weight.shape : [w.weight.shape[1], w.weight.shape[0]];
  const rows = ins, cols = outs;
  // Produced when the graph is written (see InitializerData): one layer's matrix at a time.
  const matrix = () => inOut(w.weight, orientation, w.scale ?? 1);
  const bias = w.bias && floatInitializer(g, `${name}_bias`, [cols], w.bias, computeType(precision));
  if (precision === "int8") {
    const quantized = sharedBetween(2, () => quantizeColumns(matrix(), rows, cols));
    return {
      precision,
      weight: g.initializer(name, "int8", [rows, cols], () => quantized().weight),
      scale: g.initializer(`${name}_scale`, "float32", [cols], () => quantized().scale),
      bias,
    };
  }
  return { precision, weight: floatInitializer(g, name, [rows, cols], matrix, computeType(precision)), bias };
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

/** A float initializer in `dtype` (float16 stored as its bit patterns), its values now or when written. */
export function floatInitializer(
  g: GraphBuilder,
  name: string,
  shape: readonly number[],
  data: Float32Array | (() => Float32Array),
  dtype: "float32" | "float16",
): Value {
  if (dtype === "float32") return g.initializer(name, "float32", shape, data);
  return g.initializer(
    name,
    "float16",
    shape,
    () => toFloat16Bits(typeof data === "function" ? data() : data),
  );
}

/**
 * `make()`'s result for the next `uses` calls, then forgotten: an int8 layer's weight and scales come
 * from one quantization, written one after the other, and the layer is not kept once both are.
 */
function sharedBetween<T>(uses: number, make: () => T): () => T {
  let value: T | undefined, left = 0;
  return () => {
    if (left === 0) {
      value = make();
      left = uses;
    }
    const result = value!;
    if (--left === 0) value = undefined;
    return result;
  };
}

/** The weight as a row-major [in, out] matrix, times `scale`. */
function inOut(t: FloatTensor, orientation: "out-in" | "in-out", scale: number): Float32Array {
  const data = t.data;
  if (orientation === "in-out") return scale === 1 ? data : data.map((v) => v * scale);
  const [outs, ins] = t.shape;
  const out = new Float32Array(outs * ins);
  for (let r = 0; r < outs; r++) {
    for (let c = 0; c < ins; c++) out[c * outs + r] = data[r * ins + c] * scale;
  }
  return out;
}
