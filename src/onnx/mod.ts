/**
 * ONNX without an exporter: a graph builder with static shape inference, the operators (each
 * declared once with its vector–Jacobian-product rule beside it), the reverse-mode walker that adds
 * gradients to a graph, the model file writer (external weights, or inline for in-memory helper
 * graphs), model rewriting (free spatial input sizes, int8 weights) and the one module that talks to
 * onnxruntime (sessions with checked feeds, providers chosen and logged).
 *
 * @example A graph, its gradient, and a run
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { GraphBuilder, gradients, mul, openGraphSession, reduceSum } from "./mod.ts";
 * const g = new GraphBuilder("square_sum");
 * const x = g.input("x", "float32", [3]);
 * const y = reduceSum(mul(x, x), [0], { keepDims: false });
 * const [dx] = gradients(y, [x]);
 * g.output("y", y);
 * g.output("dx", dx!);
 * const session = await openGraphSession(g, { device: "cpu", log: () => {} });
 * const out = await session.run({ x: { data: new Float32Array([1, 2, 3]), dims: [3] } });
 * deepStrictEqual([...out.y.data], [14]);
 * deepStrictEqual([...out.dx.data], [2, 4, 6]);
 * await session.dispose();
 * ```
 *
 * @module
 */
export { gradients } from "./autodiff.ts";
export type { GradientOptions } from "./autodiff.ts";
export { DType, GraphBuilder } from "./graph.ts";
export type {
  Attr,
  Attrs,
  Dim,
  Initializer,
  InitializerData,
  Node,
  OpDef,
  OutputSpec,
  TensorData,
  Value,
  VjpRule,
} from "./graph.ts";
export { openGraphSession } from "./graph_session.ts";
export { freeSpatialDims } from "./input_size.ts";
export { serializeOnnxModel, writeOnnxModel } from "./model_file.ts";
export type { WriteModelOptions } from "./model_file.ts";
export { add, cos, div, exp, mul, neg, sigmoid, sin, sqrt, sub } from "./ops/elementwise.ts";
export { conv2d, matMul, swapLastAxes } from "./ops/linalg.ts";
export { gelu, groupNorm, layerNorm, multiHeadAttention, softmax } from "./ops/nn.ts";
export { reduceMax, reduceSum } from "./ops/reduce.ts";
export {
  concat,
  expand,
  gather,
  reshape,
  reshapeLike,
  shapeOf,
  slice,
  split,
  transpose,
  unsqueeze,
} from "./ops/shape.ts";
export { averagePool, upsampleLinear } from "./ops/spatial.ts";
export { awaitRunTurn, RunTurns } from "./run_turns.ts";
export type { RunTurnsOptions } from "./run_turns.ts";
export { createSession, DEVICES, listProviders, runtimeVersion } from "./runtime.ts";
export type { Device, OnnxSession, Provider, RunTensor, SessionOptions } from "./runtime.ts";
export { cast } from "./ops/elementwise.ts";
export { dynamicQuantizeMatMul } from "./ops/quantize.ts";
export { quantizeColumns, toFloat16Bits } from "./weight_precision.ts";
export { quantizeModelWeights } from "./quantize_model.ts";
export type { QuantizedModel } from "./quantize_model.ts";
export type { QuantizedColumns } from "./weight_precision.ts";
