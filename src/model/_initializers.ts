/**
 * Checkpoint tensors as graph initializers, in the orientation the graphs multiply with.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../onnx/mod.ts";
import type { FloatTensor } from "../clip/mod.ts";

/** The tensor as it is. */
export function weight(g: GraphBuilder, name: string, t: FloatTensor): Value {
  return g.initializer(name, "float32", t.shape, t.data);
}

/**
 * A `[out, in]` linear weight stored as `[in, out]`, optionally scaled, so that the graph computes
 * `x @ W.T` as one MatMul with no Transpose node at run time.
 */
export function linearWeight(g: GraphBuilder, name: string, t: FloatTensor, scale = 1): Value {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c] * scale;
  }
  return g.initializer(name, "float32", [cols, rows], out);
}
