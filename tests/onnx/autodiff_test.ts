/**
 * The walker's own duties, with gradients computed by hand: broadcast sums (static and at run time),
 * fan-out accumulation, unused targets, pruning, and the errors it raises. The rules themselves are
 * checked against finite differences in ops_vjp_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GraphBuilder, type OpDef, type Value } from "../../src/onnx/graph.ts";
import { gradients, sumToShape } from "../../src/onnx/autodiff.ts";
import { writeOnnxModel } from "../../src/onnx/model_file.ts";
import { createSession, type RunTensor } from "../../src/onnx/runtime.ts";
import { add, mul, sigmoid } from "../../src/onnx/ops/elementwise.ts";
import { conv2d, matMul } from "../../src/onnx/ops/linalg.ts";
import { reshape } from "../../src/onnx/ops/shape.ts";
import { ErrorCode, GraphError } from "../../src/errors.ts";
import { assertClose } from "../_numeric.ts";

/** Writes `g`, runs it once on the CPU, and returns every output. */
async function run(g: GraphBuilder, feeds: Record<string, RunTensor>): Promise<Record<string, RunTensor>> {
  const dir = await Deno.makeTempDir({ prefix: "adp-autodiff-" });
  try {
    await writeOnnxModel(g, join(dir, "model.onnx"));
    const session = await createSession(join(dir, "model.onnx"), {
      device: "cpu",
      threads: 1,
      log: () => {},
    });
    try {
      return await session.run(feeds);
    } finally {
      await session.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sequence(n: number, scale = 0.1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => offset + scale * ((i * 7) % 11 - 5));
}

Deno.test("gradients() sums a bias gradient over the broadcast axes", async () => {
  const g = new GraphBuilder("bias");
  const x = g.input("x", "float32", [2, 3, 4]);
  const width = g.input("width_bias", "float32", [4]);
  const rows = g.input("row_bias", "float32", [3, 4]);
  const seed = g.input("seed", "float32", [2, 3, 4]);
  const [dx, dWidth, dRows] = gradients(add(add(x, width), rows), [x, width, rows], { seed });
  assert.deepEqual(dWidth!.shape, [4]);
  assert.deepEqual(dRows!.shape, [3, 4]);
  g.output("dx", dx!);
  g.output("d_width", dWidth!);
  g.output("d_rows", dRows!);
  const s = sequence(24);
  const out = await run(g, {
    x: { data: sequence(24), dims: [2, 3, 4] },
    width_bias: { data: sequence(4), dims: [4] },
    row_bias: { data: sequence(12), dims: [3, 4] },
    seed: { data: s, dims: [2, 3, 4] },
  });
  const expectedWidth = new Float32Array(4), expectedRows = new Float32Array(12);
  s.forEach((v, i) => {
    expectedWidth[i % 4] += v;
    expectedRows[i % 12] += v;
  });
  assertClose(out.dx.data as Float32Array, s, 0, "dx");
  assertClose(out.d_width.data as Float32Array, expectedWidth, 1e-6, "d_width");
  assertClose(out.d_rows.data as Float32Array, expectedRows, 1e-6, "d_rows");
});

Deno.test("gradients() sums at run time over a symbolic axis that turns out to be 1", async () => {
  const g = new GraphBuilder("symbolic");
  const x = g.input("x", "float32", ["n", 3]);
  const y = g.input("y", "float32", [4, 3]);
  const [dx] = gradients(add(x, y), [x]);
  assert.deepEqual(dx!.shape, ["n", 3], "the gradient keeps the input's static shape");
  g.output("dx", dx!);
  const feedsY = { data: sequence(12), dims: [4, 3] };
  // n = 1: broadcast along axis 0, so each element's gradient sums 4 ones; n = 4: no broadcast.
  const broadcast = await run(g, { x: { data: sequence(3), dims: [1, 3] }, y: feedsY });
  assert.deepEqual(broadcast.dx.dims, [1, 3]);
  assertClose(broadcast.dx.data as Float32Array, [4, 4, 4], 0, "dx with n = 1");
  const plain = await run(g, { x: { data: sequence(12), dims: [4, 3] }, y: feedsY });
  assert.deepEqual(plain.dx.dims, [4, 3]);
  assertClose(plain.dx.data as Float32Array, new Float32Array(12).fill(1), 0, "dx with n = 4");
});

Deno.test("gradients() accumulates the gradients of a value used twice", async () => {
  const g = new GraphBuilder("fan_out");
  const x = g.input("x", "float32", [5]);
  const seed = g.input("seed", "float32", [5]);
  // y = x·x + x, so dy/dx = 2x + 1: three uses of x, none may overwrite another.
  const [dx] = gradients(add(mul(x, x), x), [x], { seed });
  g.output("dx", dx!);
  const xs = sequence(5, 0.3), s = sequence(5, 0.2, 1);
  const out = await run(g, { x: { data: xs, dims: [5] }, seed: { data: s, dims: [5] } });
  assertClose(out.dx.data as Float32Array, xs.map((v, i) => s[i] * (2 * v + 1)), 1e-6, "dx");
});

Deno.test("gradients() seeds ones when no seed is given", async () => {
  const g = new GraphBuilder("ones");
  const x = g.input("x", "float32", [2, 3]);
  const [dx] = gradients(mul(x, g.scalar(3)), [x]);
  g.output("dx", dx!);
  const out = await run(g, { x: { data: sequence(6), dims: [2, 3] } });
  assertClose(out.dx.data as Float32Array, new Float32Array(6).fill(3), 0, "dx");
});

Deno.test("gradients() returns null for a target that does not reach the output", () => {
  const g = new GraphBuilder("unused");
  const x = g.input("x", "float32", [3]);
  const unused = g.input("unused", "float32", [3]);
  const other = sigmoid(unused);
  const [dx, dUnused, dOther] = gradients(sigmoid(x), [x, unused, other]);
  assert.ok(dx);
  assert.equal(dUnused, null);
  assert.equal(dOther, null);
});

Deno.test("gradients() keeps only the backward nodes that a returned gradient uses", () => {
  const g = new GraphBuilder("prune");
  const x = g.input("x", "float32", ["n", 4]);
  const w = g.initializer("w", "float32", [4, 2], sequence(8));
  const y = matMul(x, w);
  const before = g.nodes.length;
  gradients(y, [x]);
  const added = g.nodes.slice(before);
  // One MatMul for dx = g·wᵀ; the weight's xᵀ·g is never wanted, so it must not be emitted.
  assert.equal(added.filter((n) => n.op.opType === "MatMul").length, 1);
});

Deno.test("gradients() does not differentiate nodes that do not depend on the targets", () => {
  const g = new GraphBuilder("constants");
  const x = g.input("x", "float32", [1, 1, 2, 2]);
  // Conv has no rule, but here it only sees a constant: nothing on the path needs one.
  const image = g.initializer("image", "float32", [1, 1, 2, 2], sequence(4));
  const kernel = g.initializer("kernel", "float32", [1, 1, 1, 1], Float32Array.of(2));
  const [dx] = gradients(mul(x, conv2d(image, kernel, { stride: 1 })), [x]);
  assert.ok(dx);
});

Deno.test("gradients() throws VJP_MISSING naming an op without a rule on the path", () => {
  const g = new GraphBuilder("missing");
  const x = g.input("x", "float32", [1, 1, 2, 2]);
  const kernel = g.initializer("kernel", "float32", [1, 1, 1, 1], Float32Array.of(2));
  assert.throws(
    () => gradients(conv2d(x, kernel, { stride: 1 }), [x]),
    (error: unknown) =>
      error instanceof GraphError && error.code === ErrorCode.VJP_MISSING &&
      error.message.startsWith("Conv has no"),
  );
});

Deno.test("gradients() rejects a rule that returns the wrong number of gradients", () => {
  const broken: OpDef = {
    opType: "Relu",
    infer: ([v]) => [{ dtype: v!.dtype, shape: v!.shape }],
    vjp: () => [],
  };
  const g = new GraphBuilder("arity");
  const x = g.input("x", "float32", [3]);
  const y = g.apply(broken, [x])[0];
  assert.throws(
    () => gradients(y, [x]),
    (error: unknown) =>
      error instanceof GraphError && /Relu rule returned 0 gradients for 1 inputs/.test(error.message),
  );
});

Deno.test("gradients() rejects a seed that does not fit the output", () => {
  const g = new GraphBuilder("seed");
  const x = g.input("x", "float32", [2, 3]);
  const seed = g.input("seed", "float32", [3, 2]);
  assert.throws(() => gradients(sigmoid(x), [x], { seed }), GraphError);
});

Deno.test("sumToShape() sums leading axes away and keeps size-1 axes", () => {
  const g = new GraphBuilder("shapes");
  const grad = g.input("grad", "float32", [5, "n", 3, 4]);
  const like = (shape: (number | string)[]): Value => g.input(`like_${shape.join("_")}`, "float32", shape);
  assert.deepEqual(sumToShape(grad, like([3, 1])).shape, [3, 1]);
  assert.deepEqual(sumToShape(grad, like(["n", 1, 4])).shape, ["n", 1, 4]);
  const reduce = g.nodes.filter((n) => n.op.opType === "ReduceSum").length;
  assert.equal(reduce, 4, "two sums per call, no run-time fallback when the shapes decide");
  assert.throws(() => sumToShape(reshape(grad, [-1]), like([2, 2])), GraphError);
});
