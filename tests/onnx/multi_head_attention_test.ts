/**
 * onnxruntime's fused MultiHeadAttention against attention computed here in float64, and autodiff
 * refusing the inference-only op. Tolerance: O(1) inputs, sums of 4 and 5 terms in float32 inside
 * onnxruntime: ~1e-6 of rounding; 1e-5 leaves a margin, while a wrong head split or a missing scale
 * misses by O(0.1).
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../../src/onnx/graph.ts";
import { gradients } from "../../src/onnx/autodiff.ts";
import { openGraphSession } from "../../src/onnx/graph_session.ts";
import { multiHeadAttention } from "../../src/onnx/ops/nn.ts";
import { ErrorCode, GraphError } from "../../src/errors.ts";
import { Random } from "../../src/random.ts";
import { assertClose } from "../_numeric.ts";

const [BATCH, SEQ, HEADS, D] = [2, 5, 2, 4];
const WIDTH = HEADS * D;

/** softmax(q·kᵀ·scale)·v per batch and head, heads side by side in the last axis. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, scale: number): Float64Array {
  const out = new Float64Array(BATCH * SEQ * WIDTH);
  const at = (b: number, t: number, h: number, i: number) => (b * SEQ + t) * WIDTH + h * D + i;
  for (let b = 0; b < BATCH; b++) {
    for (let h = 0; h < HEADS; h++) {
      for (let t = 0; t < SEQ; t++) {
        const scores = Array.from({ length: SEQ }, (_, s) => {
          let dot = 0;
          for (let i = 0; i < D; i++) dot += q[at(b, t, h, i)] * k[at(b, s, h, i)];
          return dot * scale;
        });
        const top = Math.max(...scores);
        const w = scores.map((x) => Math.exp(x - top));
        const sum = w.reduce((a, x) => a + x, 0);
        for (let i = 0; i < D; i++) {
          out[at(b, t, h, i)] = w.reduce((a, x, s) => a + (x / sum) * v[at(b, s, h, i)], 0);
        }
      }
    }
  }
  return out;
}

Deno.test("multiHeadAttention() matches attention per head computed in float64", async () => {
  const rand = new Random(3);
  const make = () => Float32Array.from({ length: BATCH * SEQ * WIDTH }, () => rand.uniform(-1.5, 1.5));
  const [q, k, v] = [make(), make(), make()];
  const g = new GraphBuilder("mha");
  const [qi, ki, vi] = ["q", "k", "v"].map((n) => g.input(n, "float32", ["batch", "seq", WIDTH]));
  g.output("y", multiHeadAttention(qi, ki, vi, { heads: HEADS, scale: 0.7 }));
  const session = await openGraphSession(g, { device: "cpu", log: () => {} });
  try {
    const dims = [BATCH, SEQ, WIDTH];
    const out = await session.run({ q: { data: q, dims }, k: { data: k, dims }, v: { data: v, dims } });
    assert.deepEqual(out.y.dims, dims);
    assertClose(out.y.data as Float32Array, reference(q, k, v, 0.7), 1e-5, "attention");
  } finally {
    await session.dispose();
  }
});

Deno.test("gradients() refuses MultiHeadAttention with VJP_MISSING", () => {
  const g = new GraphBuilder("mha_no_grad");
  const x = g.input("x", "float32", [1, 3, WIDTH]);
  assert.throws(
    () => gradients(multiHeadAttention(x, x, x, { heads: HEADS, scale: 1 }), [x]),
    (e: unknown) => e instanceof GraphError && e.code === ErrorCode.VJP_MISSING,
  );
});
