/**
 * int8 weights for ONNX models made elsewhere (onnx/quantize_model.ts).
 *
 * - A dense convolution and a matrix product, run by onnxruntime after the rewrite, against the
 *   same arithmetic done here in float64: DynamicQuantizeLinear's uint8 activations (scale =
 *   range/255 with 0 inside the range, zero point rounded) times the per-channel int8 weights. Only
 *   float32 rounding of the final scaling separates them: tolerance 1e-5 of the sum of |terms|. A
 *   wrong scale axis, a transposed weight or a lost zero point misses by whole steps.
 * - The proxy backbone (MobileNetV2) on real images: which convolutions are rewritten (the 34 dense
 *   ones; the 17 depthwise stay float32), and its feature maps against float32's on a bottle and a
 *   tile image: cosine ≥ 0.995 per image and output (measured 0.9958–0.9976, max abs error 1.0–3.2
 *   on values up to 23: per-tensor activation steps are coarse on the unclipped residual stream).
 *   What matters downstream, detection quality, is measured by `adp eval` (README, Precision).
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../../src/onnx/graph.ts";
import { conv2d, matMul } from "../../src/onnx/ops/linalg.ts";
import { serializeOnnxModel } from "../../src/onnx/model_file.ts";
import { quantizeModelWeights } from "../../src/onnx/quantize_model.ts";
import { quantizeColumns } from "../../src/onnx/weight_precision.ts";
import { createSession } from "../../src/onnx/runtime.ts";
import { loadImage } from "../../src/eval/datasets.ts";
import { Random } from "../../src/random.ts";
import { needsShared, sharedPath } from "../_shared.ts";

/** DynamicQuantizeLinear's dequantised values of `x`, as the ONNX spec defines them. */
function dynamicQuantize(x: Float32Array): Float64Array {
  let lo = 0, hi = 0;
  for (const v of x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const scale = Math.fround((hi - lo) / 255);
  const zero = Math.max(0, Math.min(255, Math.round(-lo / scale)));
  return Float64Array.from(
    x,
    (v) => (Math.max(0, Math.min(255, Math.round(v / scale) + zero)) - zero) * scale,
  );
}

/** `w` [k, n] rounded to its per-column int8 grid, dequantised. */
function weightGrid(w: Float32Array, k: number, n: number): Float64Array {
  const q = quantizeColumns(w, k, n);
  const ints = new Int8Array(q.weight.buffer);
  return Float64Array.from(ints, (v, i) => v * q.scale[i % n]);
}

Deno.test("quantizeModelWeights() runs a convolution and a matrix product as their int8 arithmetic", async () => {
  const rand = new Random(3);
  const [c, m, side, n] = [16, 6, 4, 5];
  // Output channels of very different scales: one shared scale would flatten the small ones.
  const convW = Float32Array.from(
    { length: m * c },
    (_, i) => rand.uniform(-1, 1) * 10 ** -(Math.floor(i / c) % 3),
  );
  const mmW = Float32Array.from({ length: side * n }, () => rand.uniform(-2, 2));
  const g = new GraphBuilder("dense");
  const x = g.input("x", "float32", [1, c, side, side]);
  const y = conv2d(x, g.initializer("conv_w", "float32", [m, c, 1, 1], convW), { stride: 1 });
  g.output("y", matMul(y, g.initializer("mm_w", "float32", [side, n], mmW)));
  g.output("conv", y);
  const { model, quantized, kept } = quantizeModelWeights(await serializeOnnxModel(g));
  assert.deepEqual([quantized, kept], [2, 0]);
  const input = Float32Array.from({ length: c * side * side }, () => rand.uniform(-0.5, 3));
  const session = await createSession(model, { device: "cpu", log: () => {} });
  try {
    const out = await session.run({ x: { data: input, dims: [1, c, side, side] } });
    // The convolution as a product: conv[o, p] = Σ_i W[o, i] x[i, p]; W's rows are its channels.
    const xq = dynamicQuantize(input);
    const wT = new Float32Array(c * m);
    for (let o = 0; o < m; o++) for (let i = 0; i < c; i++) wT[i * m + o] = convW[o * c + i];
    const wq = weightGrid(wT, c, m);
    const plane = side * side;
    const conv = new Float32Array(m * plane);
    for (let o = 0; o < m; o++) {
      for (let p = 0; p < plane; p++) {
        let sum = 0, size = 0;
        for (let i = 0; i < c; i++) {
          const term = wq[i * m + o] * xq[i * plane + p];
          sum += term;
          size += Math.abs(term);
        }
        conv[o * plane + p] = sum;
        const got = (out.conv.data as Float32Array)[o * plane + p];
        assert.ok(Math.abs(got - sum) <= 1e-5 * size + 1e-7, `conv[${o},${p}] = ${got}, expected ${sum}`);
      }
    }
    const cq = dynamicQuantize(conv), mq = weightGrid(mmW, side, n);
    for (let r = 0; r < m * side; r++) {
      for (let j = 0; j < n; j++) {
        let sum = 0, size = 0;
        for (let i = 0; i < side; i++) {
          const term = cq[r * side + i] * mq[i * n + j];
          sum += term;
          size += Math.abs(term);
        }
        const got = (out.y.data as Float32Array)[r * n + j];
        assert.ok(Math.abs(got - sum) <= 1e-5 * size + 1e-7, `y[${r},${j}] = ${got}, expected ${sum}`);
      }
    }
  } finally {
    await session.dispose();
  }
});

Deno.test(
  "quantizeModelWeights() keeps the proxy backbone's features (cosine ≥ 0.995)",
  needsShared,
  async () => {
    const bytes = await Deno.readFile(sharedPath("models/proxy/mobilenetv2-features.onnx"));
    const q = quantizeModelWeights(bytes);
    assert.deepEqual([q.quantized, q.kept], [34, 17]);
    assert.ok(q.model.length < bytes.length / 2, `${q.model.length} bytes of ${bytes.length}`);
    const files = [
      "datasets/mvtec-ad/bottle/test/broken_large/000.png",
      "datasets/magnetic-tile/tile/test/blowhole/exp1_num_108719.jpg",
    ];
    const size = 224, plane = size * size;
    const pixels = new Float32Array(files.length * 3 * plane);
    for (const [f, file] of files.entries()) {
      const img = await loadImage(sharedPath(file));
      // Nearest-neighbour sampling to 224×224 is enough to give the network real image statistics.
      for (let yy = 0; yy < size; yy++) {
        for (let xx = 0; xx < size; xx++) {
          const s = 3 *
            (Math.floor((yy * img.height) / size) * img.width + Math.floor((xx * img.width) / size));
          for (let ch = 0; ch < 3; ch++) {
            pixels[(f * 3 + ch) * plane + yy * size + xx] = img.data[s + ch] /
              255;
          }
        }
      }
    }
    const feeds = { pixel_values: { data: pixels, dims: [files.length, 3, size, size] } };
    const outputs = ["features_14", "features_28"];
    const fp32 = await createSession(bytes, { device: "cpu", log: () => {} });
    const int8 = await createSession(q.model, { device: "cpu", log: () => {} });
    try {
      const [a, b] = [await fp32.run(feeds, outputs), await int8.run(feeds, outputs)];
      for (const name of outputs) {
        const u = a[name].data as Float32Array, v = b[name].data as Float32Array;
        const per = u.length / files.length;
        for (let f = 0; f < files.length; f++) {
          let dot = 0, uu = 0, vv = 0, err = 0, top = 0;
          for (let i = f * per; i < (f + 1) * per; i++) {
            dot += u[i] * v[i];
            uu += u[i] * u[i];
            vv += v[i] * v[i];
            err = Math.max(err, Math.abs(u[i] - v[i]));
            top = Math.max(top, Math.abs(u[i]));
          }
          const cosine = dot / Math.sqrt(uu * vv);
          assert.ok(
            cosine >= 0.995,
            `${name} of ${files[f]}: cosine ${cosine}, max abs error ${err} (values ≤ ${top})`,
          );
        }
      }
    } finally {
      await fp32.dispose();
      await int8.dispose();
    }
  },
);
