/**
 * Elementwise operators (numpy broadcasting).
 *
 * @module
 */
import type { Attrs, OpDef, OutputSpec, Value } from "../graph.ts";
import { broadcastShapes } from "./_shape.ts";

function binaryInfer([a, b]: readonly (Value | null)[]): OutputSpec[] {
  if (a!.dtype !== b!.dtype) throw new Error(`element types differ: ${a!.dtype} and ${b!.dtype}`);
  return [{ dtype: a!.dtype, shape: broadcastShapes(a!.shape, b!.shape) }];
}

function unaryInfer([x]: readonly (Value | null)[]): OutputSpec[] {
  return [{ dtype: x!.dtype, shape: x!.shape }];
}

/** ONNX Add. */
export const ADD: OpDef = { opType: "Add", infer: binaryInfer };
/** ONNX Sub. */
export const SUB: OpDef = { opType: "Sub", infer: binaryInfer };
/** ONNX Mul. */
export const MUL: OpDef = { opType: "Mul", infer: binaryInfer };
/** ONNX Div. */
export const DIV: OpDef = { opType: "Div", infer: binaryInfer };
/** ONNX Neg. */
export const NEG: OpDef = { opType: "Neg", infer: unaryInfer };
/** ONNX Sigmoid (kept primitive: its derivative σ(1−σ) reuses the output, and it is numerically stable). */
export const SIGMOID: OpDef = { opType: "Sigmoid", infer: unaryInfer };
/** ONNX Cast. */
export const CAST: OpDef = {
  opType: "Cast",
  infer: ([x], attrs: Attrs) => {
    const to = attrs.to?.value as number;
    const dtype = ({ 1: "float32", 6: "int32", 7: "int64", 9: "bool" } as const)[to as 1 | 6 | 7 | 9];
    if (!dtype) throw new Error(`unsupported cast target ${to}`);
    return [{ dtype, shape: x!.shape }];
  },
};

/** a + b */
export function add(a: Value, b: Value): Value {
  return a.graph.apply(ADD, [a, b])[0];
}
/** a − b */
export function sub(a: Value, b: Value): Value {
  return a.graph.apply(SUB, [a, b])[0];
}
/** a · b (elementwise) */
export function mul(a: Value, b: Value): Value {
  return a.graph.apply(MUL, [a, b])[0];
}
/** a / b */
export function div(a: Value, b: Value): Value {
  return a.graph.apply(DIV, [a, b])[0];
}
/** −x */
export function neg(x: Value): Value {
  return x.graph.apply(NEG, [x])[0];
}
/** σ(x) */
export function sigmoid(x: Value): Value {
  return x.graph.apply(SIGMOID, [x])[0];
}
