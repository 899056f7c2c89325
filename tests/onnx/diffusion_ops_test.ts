/**
 * The operators the diffusion graphs add, run by onnxruntime against the same computation done
 * here in float64: group normalisation (as InstanceNormalization over groups, on free spatial
 * dims), padded strided convolution with bias, Sin/Cos; and float16 tensors fed and fetched as
 * Float16Array. Tolerance 1e-5: O(1) values, sums of at most 27 float32 terms (~1e-6 of rounding);
 * a wrong group split, pad or stride misses by O(0.1).
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../../src/onnx/graph.ts";
import { openGraphSession } from "../../src/onnx/graph_session.ts";
import { cast, cos, sin } from "../../src/onnx/ops/elementwise.ts";
import { conv2d } from "../../src/onnx/ops/linalg.ts";
import { groupNorm } from "../../src/onnx/ops/nn.ts";
import { Random } from "../../src/random.ts";
import { assertClose } from "../_numeric.ts";

const TOL = 1e-5;

function randomArray(n: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: n }, () => random.normal());
}

Deno.test("groupNorm() normalises each group of channels over the group and the positions", async () => {
  const [n, c, h, w, groups, eps] = [2, 6, 3, 4, 3, 1e-5];
  const g = new GraphBuilder("group_norm");
  const x = g.input("x", "float32", ["n", c, "h", "w"]);
  const gamma = randomArray(c, 1), beta = randomArray(c, 2);
  g.output(
    "y",
    groupNorm(x, g.initializer("gamma", "float32", [c], gamma), g.initializer("beta", "float32", [c], beta), {
      groups,
      epsilon: eps,
    }),
  );
  const input = randomArray(n * c * h * w, 3).map((v, i) => v * 2 + (i % 7));
  const session = await openGraphSession(g, { device: "cpu", log: () => {} });
  const { y } = await session.run({ x: { data: input, dims: [n, c, h, w] } });
  await session.dispose();

  const expected = new Float64Array(input.length);
  const perGroup = (c / groups) * h * w;
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < groups; k++) {
      const start = (b * groups + k) * perGroup;
      const values = Array.from(input.subarray(start, start + perGroup));
      const mean = values.reduce((a, v) => a + v, 0) / perGroup;
      const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / perGroup;
      values.forEach((v, i) => {
        const channel = Math.floor((start + i) / (h * w)) % c;
        expected[start + i] = ((v - mean) / Math.sqrt(variance + eps)) * gamma[channel] + beta[channel];
      });
    }
  }
  assert.deepEqual(y.dims, [n, c, h, w]);
  assertClose(y.data as Float32Array, expected, TOL, "group norm");
});

Deno.test("conv2d() pads, strides and adds its bias as torch's Conv2d(padding=1, stride=2)", async () => {
  const [n, ci, co, size, k, stride, pad] = [1, 3, 2, 5, 3, 2, 1];
  const g = new GraphBuilder("conv");
  const x = g.input("x", "float32", ["n", ci, "h", "w"]);
  const weight = randomArray(co * ci * k * k, 4), bias = randomArray(co, 5);
  g.output(
    "y",
    conv2d(x, g.initializer("w", "float32", [co, ci, k, k], weight), {
      stride,
      pad,
      bias: g.initializer("b", "float32", [co], bias),
    }),
  );
  const input = randomArray(n * ci * size * size, 6);
  const session = await openGraphSession(g, { device: "cpu", log: () => {} });
  const { y } = await session.run({ x: { data: input, dims: [n, ci, size, size] } });
  await session.dispose();

  const out = Math.floor((size + 2 * pad - k) / stride) + 1; // 3
  const expected = new Float64Array(co * out * out);
  for (let o = 0; o < co; o++) {
    for (let r = 0; r < out; r++) {
      for (let s = 0; s < out; s++) {
        let sum = bias[o];
        for (let i = 0; i < ci; i++) {
          for (let dr = 0; dr < k; dr++) {
            for (let ds = 0; ds < k; ds++) {
              const row = r * stride - pad + dr, col = s * stride - pad + ds;
              if (row < 0 || col < 0 || row >= size || col >= size) continue;
              sum += weight[((o * ci + i) * k + dr) * k + ds] * input[(i * size + row) * size + col];
            }
          }
        }
        expected[(o * out + r) * out + s] = sum;
      }
    }
  }
  assert.deepEqual(y.dims, [n, co, out, out]);
  assert.deepEqual(g.outputs[0].shape.slice(0, 2), ["n", co]);
  assertClose(y.data as Float32Array, expected, TOL, "conv");
});

Deno.test("sin() and cos(), and float16 tensors in and out as Float16Array", async () => {
  const g = new GraphBuilder("trig_f16");
  const x = g.input("x", "float16", [4]);
  const angles = cast(x, "float32");
  g.output("s", sin(angles));
  g.output("c", cast(cos(angles), "float16"));
  const session = await openGraphSession(g, { device: "cpu", log: () => {} });
  const values = [0, 0.5, -1.25, 3];
  const out = await session.run({ x: { data: Float16Array.from(values), dims: [4] } });
  await session.dispose();
  assert.ok(out.c.data instanceof Float16Array);
  // The inputs are exact in float16; the cosines are rounded to float16 (relative 2^-11).
  assertClose(out.s.data as Float32Array, values.map(Math.sin), TOL, "sin");
  assertClose(Float32Array.from(out.c.data as Float16Array), values.map(Math.cos), 1e-3, "cos in float16");
});
