/**
 * Elementwise operators (numpy broadcasting). Each record carries its reverse-mode rule; gradients
 * come back in the output's (broadcast) shape and the walker sums them down to each input's shape.
 *
 * @module
 */
import { attr, type Attrs, DType, type OpDef, type OutputSpec, type Value } from "../graph.ts";
import { broadcastShapes } from "./_shape.ts";

function binaryInfer([a, b]: readonly (Value | null)[]): OutputSpec[] {
  if (a!.dtype !== b!.dtype) throw new Error(`element types differ: ${a!.dtype} and ${b!.dtype}`);
  return [{ dtype: a!.dtype, shape: broadcastShapes(a!.shape, b!.shape) }];
}

function unaryInfer([x]: readonly (Value | null)[]): OutputSpec[] {
  return [{ dtype: x!.dtype, shape: x!.shape }];
}

function compareInfer([a, b]: readonly (Value | null)[]): OutputSpec[] {
  return [{ dtype: "bool", shape: binaryInfer([a, b])[0].shape }];
}

/** ONNX Add. */
export const ADD: OpDef = { opType: "Add", infer: binaryInfer, vjp: (_node, [g]) => [g, g] };
/** ONNX Sub. */
export const SUB: OpDef = { opType: "Sub", infer: binaryInfer, vjp: (_node, [g]) => [g, neg(g!)] };
/** ONNX Mul. */
export const MUL: OpDef = {
  opType: "Mul",
  infer: binaryInfer,
  vjp: ({ inputs: [a, b] }, [g]) => [mul(g!, b!), mul(g!, a!)],
};
/** ONNX Div. */
export const DIV: OpDef = {
  opType: "Div",
  infer: binaryInfer,
  // d(a/b)/db = −(a/b)/b: reusing the output saves recomputing the quotient.
  vjp: ({ inputs: [, b], outputs: [out] }, [g]) => [div(g!, b!), neg(div(mul(g!, out), b!))],
};
/** ONNX Neg. */
export const NEG: OpDef = { opType: "Neg", infer: unaryInfer, vjp: (_node, [g]) => [neg(g!)] };
/** ONNX Sigmoid (kept primitive: its derivative σ(1−σ) reuses the output, and it is numerically stable). */
export const SIGMOID: OpDef = {
  opType: "Sigmoid",
  infer: unaryInfer,
  vjp: ({ outputs: [s] }, [g]) => [mul(g!, mul(s, sub(s.graph.scalar(1), s)))],
};
/** ONNX Exp. */
export const EXP: OpDef = { opType: "Exp", infer: unaryInfer, vjp: ({ outputs: [y] }, [g]) => [mul(g!, y)] };
/** ONNX Sqrt. */
export const SQRT: OpDef = {
  opType: "Sqrt",
  infer: unaryInfer,
  vjp: ({ outputs: [y] }, [g]) => [div(g!, mul(y, y.graph.scalar(2)))],
};
/** ONNX Erf. */
export const ERF: OpDef = {
  opType: "Erf",
  infer: unaryInfer,
  vjp: ({ inputs: [x] }, [g]) => {
    const gr = x!.graph;
    return [mul(g!, mul(gr.scalar(2 / Math.sqrt(Math.PI)), exp(neg(mul(x!, x!)))))];
  },
};
/** ONNX Sin (inference only: the diffusion timestep embedding; no gradient rule). */
export const SIN: OpDef = { opType: "Sin", infer: unaryInfer };
/** ONNX Cos (inference only, as Sin). */
export const COS: OpDef = { opType: "Cos", infer: unaryInfer };
/** ONNX Less (a < b → bool); comparisons have no gradient. */
export const LESS: OpDef = { opType: "Less", infer: compareInfer };
/** ONNX Min of two operands (used on integer shape arithmetic; no gradient rule). */
export const MIN: OpDef = { opType: "Min", infer: binaryInfer };
/** ONNX Max of two operands (used on integer shape arithmetic; no gradient rule). */
export const MAX: OpDef = { opType: "Max", infer: binaryInfer };
/** ONNX Where: `condition ? x : y`, broadcasting all three. */
export const WHERE: OpDef = {
  opType: "Where",
  infer: ([c, x, y]) => {
    if (x!.dtype !== y!.dtype) throw new Error(`element types differ: ${x!.dtype} and ${y!.dtype}`);
    return [{ dtype: x!.dtype, shape: broadcastShapes(c!.shape, broadcastShapes(x!.shape, y!.shape)) }];
  },
  vjp: ({ inputs: [c, x] }, [g]) => {
    const zero = x!.graph.scalar(0);
    return [null, where(c!, g!, zero), where(c!, zero, g!)];
  },
};
/** ONNX Cast (float16 included, for reduced-precision inference graphs; no gradient rule). */
export const CAST: OpDef = {
  opType: "Cast",
  infer: ([x], attrs: Attrs) => {
    const to = attrs.to?.value as number;
    const targets = { 1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16" } as const;
    const dtype = targets[to as keyof typeof targets];
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
/** eˣ */
export function exp(x: Value): Value {
  return x.graph.apply(EXP, [x])[0];
}
/** √x */
export function sqrt(x: Value): Value {
  return x.graph.apply(SQRT, [x])[0];
}
/** sin(x) */
export function sin(x: Value): Value {
  return x.graph.apply(SIN, [x])[0];
}
/** cos(x) */
export function cos(x: Value): Value {
  return x.graph.apply(COS, [x])[0];
}
/** erf(x) */
export function erf(x: Value): Value {
  return x.graph.apply(ERF, [x])[0];
}
/** a < b, elementwise, as bool. */
export function less(a: Value, b: Value): Value {
  return a.graph.apply(LESS, [a, b])[0];
}
/** min(a, b), elementwise. */
export function minimum(a: Value, b: Value): Value {
  return a.graph.apply(MIN, [a, b])[0];
}
/** max(a, b), elementwise. */
export function maximum(a: Value, b: Value): Value {
  return a.graph.apply(MAX, [a, b])[0];
}
/** `condition ? x : y`, elementwise. */
export function where(condition: Value, x: Value, y: Value): Value {
  return x.graph.apply(WHERE, [condition, x, y])[0];
}
/** Converts to another element type. */
export function cast(x: Value, to: "float32" | "float16" | "int64"): Value {
  return x.graph.apply(CAST, [x], { to: attr.int(DType[to]) })[0];
}
