/**
 * TODO-DOC onnx
 *
 * @module
 */
export { gradients } from "./autodiff.ts";
export { GraphBuilder } from "./graph.ts";
export type { Value } from "./graph.ts";
export { openGraphSession } from "./graph_session.ts";
export { freeSpatialDims } from "./input_size.ts";
export { writeOnnxModel } from "./model_file.ts";
export { add, div, mul, sigmoid, sqrt, sub } from "./ops/elementwise.ts";
export { conv2d, matMul, swapLastAxes } from "./ops/linalg.ts";
export { gelu, layerNorm, multiHeadAttention, softmax } from "./ops/nn.ts";
export { reduceMax, reduceSum } from "./ops/reduce.ts";
export { concat, expand, gather, reshape, shapeOf, slice, split, transpose, unsqueeze } from "./ops/shape.ts";
export { averagePool, upsampleLinear } from "./ops/spatial.ts";
export { createSession, DEVICES, listProviders } from "./runtime.ts";
export type { Device, OnnxSession, Provider, RunTensor, SessionOptions } from "./runtime.ts";
export { cast } from "./ops/elementwise.ts";
export { dynamicQuantizeMatMul } from "./ops/quantize.ts";
export { quantizeColumns, toFloat16Bits } from "./weight_precision.ts";
export type { QuantizedColumns } from "./weight_precision.ts";
