/**
 * Deferred initializers (weights produced when the model is written): produced once, at write
 * time, never while the graph is built; the model computes with them as with eager ones; a producer
 * that returns the wrong number of elements is refused naming the initializer.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../../src/onnx/graph.ts";
import { openGraphSession } from "../../src/onnx/graph_session.ts";
import { writeOnnxModel } from "../../src/onnx/model_file.ts";
import { matMul } from "../../src/onnx/ops/linalg.ts";
import { tempDir } from "../_temp_dir.ts";

function product(weights: () => Float32Array): { graph: GraphBuilder; calls: () => number } {
  let calls = 0;
  const g = new GraphBuilder("deferred");
  const x = g.input("x", "float32", [1, 2]);
  const w = g.initializer("w", "float32", [2, 2], () => {
    calls++;
    return weights();
  });
  g.output("y", matMul(x, w));
  return { graph: g, calls: () => calls };
}

Deno.test("a deferred initializer is produced at write time, once, and computes like an eager one", async () => {
  const { graph, calls } = product(() => Float32Array.of(1, 2, 3, 4));
  assert.equal(calls(), 0, "produced while building");
  assert.equal(graph.constantData(graph.initializers[0].value), undefined);
  const session = await openGraphSession(graph);
  try {
    assert.equal(calls(), 1);
    const out = await session.run({ x: { data: Float32Array.of(1, 1), dims: [1, 2] } });
    assert.deepEqual(Array.from(out.y.data as Float32Array), [4, 6]);
  } finally {
    await session.dispose();
  }
});

Deno.test("a deferred initializer of the wrong size is refused when the model is written", async () => {
  await using dir = await tempDir();
  const { graph } = product(() => Float32Array.of(1, 2, 3));
  await assert.rejects(
    () => writeOnnxModel(graph, `${dir.path}/m.onnx`),
    (e: Error) =>
      e instanceof RangeError && /Initializer w produced 3 elements for shape \[2,2\]/.test(e.message),
  );
});
