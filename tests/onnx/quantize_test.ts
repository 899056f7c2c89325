/**
 * Reduced-precision weights and the int8 product: quantisation per column against hand-computed
 * values, DynamicQuantizeMatMul in onnxruntime against the float32 product, and autodiff refusing
 * the inference-only op.
 *
 * Tolerance: per-column int8 weights carry at most half a step (max|w|/254) of error each, the
 * activations at most half a step of their range/255; on K = 64 terms of O(1) values that bounds
 * the product's error near 0.5, and ~0.05 is typical. A wrong scale axis or transposed weight
 * misses by O(1).
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../../src/onnx/graph.ts";
import { gradients } from "../../src/onnx/autodiff.ts";
import { openGraphSession } from "../../src/onnx/graph_session.ts";
import { dynamicQuantizeMatMul } from "../../src/onnx/ops/quantize.ts";
import { cast } from "../../src/onnx/ops/elementwise.ts";
import { quantizeColumns, toFloat16Bits } from "../../src/onnx/weight_precision.ts";
import { ErrorCode, GraphError } from "../../src/errors.ts";
import { Random } from "../../src/random.ts";

Deno.test("quantizeColumns() scales each column by its own largest magnitude", () => {
  // Column 0 spans ±1, column 1 ±0.01, column 2 is all zero.
  const w = Float32Array.of(1, 0.01, 0, -0.6, -0.006, 0, 0.2, 0.002, 0);
  const { weight, scale } = quantizeColumns(w, 3, 3);
  assert.deepEqual(Array.from(new Int8Array(weight.buffer)), [127, 127, 0, -76, -76, 0, 25, 25, 0]);
  assert.deepEqual(Array.from(scale), [1 / 127, 0.01 / 127, 1].map(Math.fround));
  assert.throws(() => quantizeColumns(w, 2, 3), RangeError);
});

Deno.test("toFloat16Bits() rounds to nearest even and saturates to infinity", () => {
  const bits = toFloat16Bits(Float32Array.of(0, -0, 65504, 1e6, 1 + 2 ** -11, 1 + 3 * 2 ** -11));
  assert.deepEqual(Array.from(bits), [0x0000, 0x8000, 0x7bff, 0x7c00, 0x3c00, 0x3c02]);
});

Deno.test("dynamicQuantizeMatMul() matches the float32 product within int8 rounding", async () => {
  const rand = new Random(7);
  const [m, k, n] = [5, 64, 3];
  const a = Float32Array.from({ length: m * k }, () => rand.uniform(-1, 1));
  // Columns of very different scales: one shared scale would flatten the small ones to zero.
  const w = Float32Array.from({ length: k * n }, (_, i) => (rand.uniform(-1, 1)) * 10 ** -(i % n));
  const bias = Float32Array.of(0.5, -1, 2);
  const g = new GraphBuilder("dqmm");
  const x = g.input("a", "float32", ["rows", k]);
  const q = quantizeColumns(w, k, n);
  g.output(
    "y",
    dynamicQuantizeMatMul(
      x,
      g.initializer("w", "int8", [k, n], q.weight),
      g.initializer("scale", "float32", [n], q.scale),
      g.initializer("bias", "float32", [n], bias),
    ),
  );
  const session = await openGraphSession(g, { device: "cpu", log: () => {} });
  try {
    const y = (await session.run({ a: { data: a, dims: [m, k] } })).y.data as Float32Array;
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        let exact = bias[c];
        for (let i = 0; i < k; i++) exact += a[r * k + i] * w[i * n + c];
        const tol = 0.02 * 10 ** -c * Math.sqrt(k) + 1e-6;
        assert.ok(Math.abs(y[r * n + c] - exact) <= tol, `y[${r},${c}] = ${y[r * n + c]}, exact ${exact}`);
      }
    }
  } finally {
    await session.dispose();
  }
});

Deno.test("gradients() refuses DynamicQuantizeMatMul with VJP_MISSING", () => {
  const g = new GraphBuilder("no_grad");
  const x = g.input("x", "float32", [2, 2]);
  const y = dynamicQuantizeMatMul(
    x,
    g.initializer("w", "int8", [2, 2], new Uint8Array(4)),
    g.initializer("s", "float32", [2], Float32Array.of(1, 1)),
  );
  assert.throws(
    () => gradients(y, [x]),
    (e: unknown) => e instanceof GraphError && e.code === ErrorCode.VJP_MISSING,
  );
  assert.equal(cast(x, "float16").dtype, "float16");
});
