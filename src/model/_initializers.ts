/**
 * Checkpoint tensors as graph initializers, in the orientation the graphs multiply with.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../onnx/mod.ts";
import type { FloatTensor } from "../clip/mod.ts";

/** The tensor as it is, read when the graph is written. */
export function weight(g: GraphBuilder, name: string, t: FloatTensor): Value {
  return g.initializer(name, "float32", t.shape, () => t.data);
}
