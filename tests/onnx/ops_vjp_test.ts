/**
 * Every VJP rule against central finite differences, both sides run in onnxruntime (CPU).
 *
 * For each case the same builder code makes a forward graph and a forward+backward graph (seeded
 * with a random upstream gradient s). The objective J(x) = Σ s·y(x) is accumulated in float64 from
 * the float32 outputs, and dJ/dx_i ≈ (J(x + h·e_i) − J(x − h·e_i)) / (x_i⁺ − x_i⁻), with the
 * perturbed inputs rounded to float32 before the denominator is taken.
 *
 * Tolerances: inputs and outputs are O(1) and J sums at most ~100 terms, so float32 rounding puts
 * ~1e-6 of noise on J, which the difference quotient with h = 1e-2 scales to ~5e-5; the truncation
 * error h²/6·f''' is ~2e-5 for these smooth functions (the attention block, with the largest
 * curvature, shows ~1e-3 on derivatives of ~5). |analytic − fd| ≤ 2e-4 + 2e-3·|fd| leaves a margin
 * of 4× or more over all of that, while a wrong rule (a missing term, a wrong axis) misses by O(1).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Dim, GraphBuilder, IDENTITY, type Value } from "../../src/onnx/graph.ts";
import { gradients } from "../../src/onnx/autodiff.ts";
import { writeOnnxModel } from "../../src/onnx/model_file.ts";
import { createSession, type OnnxSession, type RunTensor } from "../../src/onnx/runtime.ts";
import { add, div, erf, exp, mul, neg, sigmoid, sqrt, sub, where } from "../../src/onnx/ops/elementwise.ts";
import { matMul } from "../../src/onnx/ops/linalg.ts";
import { gelu, layerNorm, softmax } from "../../src/onnx/ops/nn.ts";
import { reduceMean, reduceSum } from "../../src/onnx/ops/reduce.ts";
import {
  concat,
  expand,
  gather,
  reshape,
  shapeOf,
  slice,
  split,
  squeeze,
  transpose,
  unsqueeze,
} from "../../src/onnx/ops/shape.ts";
import { attentionBlock, blockParams } from "../../src/model/attention_block.ts";
import type { BlockWeights } from "../../src/clip/weights.ts";

const STEP = 1e-2;
const ATOL = 2e-4;
const RTOL = 2e-3;

/** One input of a case: its declared shape, its run-time data, and whether to differentiate it. */
interface CaseInput {
  shape: readonly Dim[];
  data: Float32Array | BigInt64Array;
  /** Run-time dims when `shape` has symbolic ones. */
  dims?: readonly number[];
  /** @default true for float32 inputs */
  wrt?: boolean;
}

interface VjpCase {
  inputs: Record<string, CaseInput>;
  build: (x: Record<string, Value>) => Value;
  /** Inputs whose gradient must be null (they do not reach the output). */
  unused?: string[];
  step?: number;
}

/** Builds the case, checks every differentiated input against finite differences, returns the gradients. */
async function checkVjp(c: VjpCase): Promise<Record<string, Float32Array>> {
  const dir = await Deno.makeTempDir({ prefix: "adp-vjp-" });
  const sessions: OnnxSession[] = [];
  try {
    const declare = (g: GraphBuilder) =>
      Object.fromEntries(
        Object.entries(c.inputs).map((
          [name, inp],
        ) => [name, g.input(name, inp.data instanceof BigInt64Array ? "int64" : "float32", inp.shape)]),
      );
    const wrtNames = Object.keys(c.inputs).filter((n) =>
      c.inputs[n].data instanceof Float32Array && c.inputs[n].wrt !== false
    );

    const fg = new GraphBuilder("forward");
    fg.output("y", c.build(declare(fg)));
    const bg = new GraphBuilder("backward");
    const bx = declare(bg);
    const y = c.build(bx);
    const seed = bg.input("seed", "float32", y.shape);
    const grads = gradients(y, wrtNames.map((n) => bx[n]), { seed });
    const produced: string[] = [];
    wrtNames.forEach((n, i) => {
      if (c.unused?.includes(n)) {
        assert.equal(grads[i], null, `${n} does not reach the output, so it has no gradient`);
      } else {
        assert.ok(grads[i], `${n} reaches the output, so it has a gradient`);
        bg.output(`grad_${n}`, grads[i]!);
        produced.push(n);
      }
    });

    const forward = await session(fg, join(dir, "forward.onnx"), sessions);
    const backward = await session(bg, join(dir, "backward.onnx"), sessions);
    const feeds: Record<string, RunTensor> = {};
    for (const [name, inp] of Object.entries(c.inputs)) {
      feeds[name] = { data: inp.data, dims: inp.dims ?? (inp.shape as number[]) };
    }
    const y0 = (await forward.run(feeds)).y;
    const s = randn(y0.data.length, 99);
    const out = await backward.run({ ...feeds, seed: { data: s, dims: y0.dims } });

    const objective = async (name: string, data: Float32Array) => {
      const yy = (await forward.run({ ...feeds, [name]: { data, dims: feeds[name].dims } })).y
        .data as Float32Array;
      let j = 0;
      for (let i = 0; i < yy.length; i++) j += s[i] * yy[i];
      return j;
    };
    const result: Record<string, Float32Array> = {};
    for (const name of produced) {
      const base = c.inputs[name].data as Float32Array;
      const analytic = out[`grad_${name}`].data as Float32Array;
      assert.deepEqual(out[`grad_${name}`].dims, feeds[name].dims, `grad_${name} has the input's shape`);
      let worst = 0, largest = 0;
      for (let i = 0; i < base.length; i++) {
        const plus = base.slice(), minus = base.slice();
        plus[i] += c.step ?? STEP;
        minus[i] -= c.step ?? STEP;
        const fd = ((await objective(name, plus)) - (await objective(name, minus))) / (plus[i] - minus[i]);
        const excess = Math.abs(analytic[i] - fd) - (ATOL + RTOL * Math.abs(fd));
        worst = Math.max(worst, excess);
        largest = Math.max(largest, Math.abs(fd));
        assert.ok(excess <= 0, `d/d${name}[${i}]: analytic ${analytic[i]} vs finite difference ${fd}`);
      }
      assert.ok(largest > 1e-2, `d/d${name} is not trivially zero (largest ${largest})`);
      result[name] = analytic;
    }
    return result;
  } finally {
    for (const s of sessions) await s.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

async function session(g: GraphBuilder, path: string, sessions: OnnxSession[]): Promise<OnnxSession> {
  await writeOnnxModel(g, path);
  const s = await createSession(path, { device: "cpu", threads: 1, log: () => {} });
  sessions.push(s);
  return s;
}

/** Deterministic standard normals (mulberry32 + Box–Muller). */
function randn(n: number, seed: number, scale = 1): Float32Array {
  let t = seed >>> 0;
  const uniform = () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return (((r ^ (r >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Float32Array.from(
    { length: n },
    () => scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
  );
}

/** A float input of fixed shape with random data. */
function rand(shape: readonly number[], seed: number, scale = 1): CaseInput {
  return { shape, data: randn(shape.reduce((a, b) => a * b, 1), seed, scale) };
}

/** Values bounded away from zero (denominators, square roots). */
function awayFromZero(shape: readonly number[], seed: number, signed: boolean): CaseInput {
  const data = randn(shape.reduce((a, b) => a * b, 1), seed).map((v, i) =>
    (signed && i % 2 ? -1 : 1) * (0.7 + Math.abs(v))
  );
  return { shape, data };
}

Deno.test("vjp(Add) matches finite differences with broadcast bias shapes", async () => {
  // [n,T,W] + [W], [n,L,W] + [L,W] and two size-1 axes stretched against each other.
  await checkVjp({ inputs: { x: rand([2, 3, 4], 1), b: rand([4], 2) }, build: ({ x, b }) => add(x, b) });
  await checkVjp({ inputs: { x: rand([2, 3, 4], 3), b: rand([3, 4], 4) }, build: ({ x, b }) => add(x, b) });
  await checkVjp({ inputs: { x: rand([2, 1, 4], 5), b: rand([3, 1], 6) }, build: ({ x, b }) => add(x, b) });
});

Deno.test("vjp(Sub) matches finite differences", async () => {
  await checkVjp({ inputs: { a: rand([2, 3], 7), b: rand([3], 8) }, build: ({ a, b }) => sub(a, b) });
});

Deno.test("vjp(Mul) matches finite differences", async () => {
  await checkVjp({
    inputs: { a: rand([2, 3, 4], 9), b: rand([2, 1, 4], 10) },
    build: ({ a, b }) => mul(a, b),
  });
});

Deno.test("vjp(Div) matches finite differences", async () => {
  await checkVjp({
    inputs: { a: rand([2, 3], 11), b: awayFromZero([3], 12, true) },
    build: ({ a, b }) => div(a, b),
  });
});

Deno.test("vjp(Neg) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 3], 13) }, build: ({ x }) => neg(x) });
});

Deno.test("vjp(Sigmoid) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 5], 14, 2) }, build: ({ x }) => sigmoid(x) });
});

Deno.test("vjp(Exp) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 5], 15, 0.5) }, build: ({ x }) => exp(x) });
});

Deno.test("vjp(Sqrt) matches finite differences", async () => {
  await checkVjp({ inputs: { x: awayFromZero([2, 5], 16, false) }, build: ({ x }) => sqrt(x) });
});

Deno.test("vjp(Erf) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 5], 17) }, build: ({ x }) => erf(x) });
});

Deno.test("vjp(Where) matches finite differences", async () => {
  await checkVjp({
    inputs: { a: rand([2, 3], 18), b: rand([3], 19) },
    build: ({ a, b }) => {
      const condition = a.graph.initializer("c", "bool", [2, 3], Uint8Array.of(1, 0, 1, 0, 0, 1));
      return where(condition, a, b);
    },
  });
});

Deno.test("vjp(MatMul) matches finite differences", async () => {
  await checkVjp({ inputs: { a: rand([3, 4], 20), b: rand([4, 5], 21) }, build: ({ a, b }) => matMul(a, b) });
  // Activations against a shared weight: the weight's gradient is summed over the batch.
  await checkVjp({
    inputs: { a: rand([2, 3, 4], 22), b: rand([4, 5], 23) },
    build: ({ a, b }) => matMul(a, b),
  });
  // Batch axes broadcast on both sides.
  await checkVjp({
    inputs: { a: rand([2, 1, 3, 4], 24), b: rand([3, 4, 2], 25) },
    build: ({ a, b }) => matMul(a, b),
  });
});

Deno.test("vjp(LayerNormalization) matches finite differences", async () => {
  await checkVjp({
    inputs: { x: rand([2, 3, 6], 26, 2), scale: rand([6], 27), bias: rand([6], 28) },
    build: ({ x, scale, bias }) => layerNorm(x, scale, bias, { epsilon: 1e-5 }),
  });
});

Deno.test("vjp(Softmax) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 3, 5], 29, 2) }, build: ({ x }) => softmax(x, -1) });
  await checkVjp({ inputs: { x: rand([2, 3, 5], 30, 2) }, build: ({ x }) => softmax(x, 1) });
});

Deno.test("vjp(Gelu) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([3, 6], 31, 2) }, build: ({ x }) => gelu(x) });
});

Deno.test("vjp(Reshape) matches finite differences", async () => {
  await checkVjp({
    inputs: { x: rand([2, 3, 4], 32) },
    build: ({ x }) => mul(reshape(x, [4, 6]), reshape(x, [4, 6])),
  });
  // A symbolic leading dim is copied back with 0; a symbolic dim that moves needs the run-time shape.
  await checkVjp({
    inputs: { x: { ...rand([2, 3, 4], 33), shape: ["n", 3, 4], dims: [2, 3, 4] } },
    build: ({ x }) => sigmoid(reshape(x, [0, 12])),
  });
  await checkVjp({
    inputs: { x: { ...rand([2, 3, 4], 34), shape: ["n", 3, 4], dims: [2, 3, 4] } },
    build: ({ x }) => sigmoid(reshape(x, [-1])),
  });
});

Deno.test("vjp(Transpose) matches finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 3, 4], 35) }, build: ({ x }) => sigmoid(transpose(x, [2, 0, 1])) });
});

Deno.test("vjp(Split) matches finite differences with an output that has no gradient", async () => {
  await checkVjp({
    inputs: { x: rand([2, 6], 36) },
    build: ({ x }) => {
      const [first, , last] = split(x, [1, 2, 3], 1);
      return add(mul(last, first), last);
    },
  });
});

Deno.test("vjp(Slice) matches finite differences", async () => {
  // Constant bounds, a negative start and an end past the dim.
  await checkVjp({
    inputs: { x: rand([4, 5], 37) },
    build: ({ x }) => sigmoid(slice(x, [1, -3], [3, 100], [0, 1])),
  });
  // An end known only at run time, as the text tower slices positions to the sequence length.
  await checkVjp({
    inputs: { x: rand([6, 3], 38), ids: { shape: ["seq"], dims: [4], data: new BigInt64Array(4) } },
    build: ({ x, ids }) => sigmoid(slice(x, [0], shapeOf(ids), [0])),
  });
});

Deno.test("vjp(Gather) matches finite differences", async () => {
  // An embedding lookup with a repeated row and a negative index.
  await checkVjp({
    inputs: { table: rand([5, 3], 39) },
    build: ({ table }) => {
      const ids = table.graph.initializer("ids", "int64", [2, 3], BigInt64Array.of(0n, 2n, 2n, 4n, -1n, 1n));
      return sigmoid(gather(table, ids, 0));
    },
  });
  // Pooling the first token along axis 1, as the vision tower does.
  await checkVjp({
    inputs: { tokens: rand([2, 3, 4], 40) },
    build: ({ tokens }) => sigmoid(gather(tokens, tokens.graph.int64(0), 1)),
  });
});

Deno.test("vjp(Unsqueeze) and vjp(Squeeze) match finite differences", async () => {
  await checkVjp({ inputs: { x: rand([2, 3], 41) }, build: ({ x }) => sigmoid(unsqueeze(x, [0, 2])) });
  await checkVjp({ inputs: { x: rand([2, 1, 3], 42) }, build: ({ x }) => sigmoid(squeeze(x, [1])) });
});

Deno.test("vjp(Concat) matches finite differences", async () => {
  await checkVjp({
    inputs: { a: rand([2, 3], 43), b: rand([2, 2], 44) },
    build: ({ a, b }) => sigmoid(concat([a, b], 1)),
  });
  // A symbolic length along the axis: the offsets are computed at run time.
  await checkVjp({
    inputs: { a: rand([2, 3], 45), b: { ...rand([2, 2], 46), shape: [2, "k"], dims: [2, 2] } },
    build: ({ a, b }) => sigmoid(concat([b, a, b], 1)),
  });
});

Deno.test("vjp(Identity) matches finite differences", async () => {
  await checkVjp({
    inputs: { x: rand([2, 3], 47) },
    build: ({ x }) => sigmoid(x.graph.apply(IDENTITY, [x])[0]),
  });
});

Deno.test("vjp(Expand) matches finite differences", async () => {
  await checkVjp({
    inputs: { x: rand([3, 1], 48) },
    build: ({ x }) => sigmoid(expand(x, x.graph.int64s([2, 3, 4]))),
  });
});

Deno.test("vjp(ReduceSum) and vjp(ReduceMean) match finite differences", async () => {
  await checkVjp({
    inputs: { x: rand([2, 3, 4], 49) },
    build: ({ x }) => sigmoid(reduceSum(x, [1], { keepDims: false })),
  });
  await checkVjp({
    inputs: { x: rand([2, 3, 4], 50) },
    build: ({ x }) => sigmoid(reduceSum(x, [0, 2], { keepDims: true })),
  });
  await checkVjp({
    inputs: { x: rand([2, 3, 4], 51) },
    build: ({ x }) => sigmoid(reduceMean(x, [-1], { keepDims: false })),
  });
  // A symbolic reduced dim: the mean's count comes from the run-time sizes.
  await checkVjp({
    inputs: { x: { ...rand([2, 3, 4], 52), shape: [2, "t", 4], dims: [2, 3, 4] } },
    build: ({ x }) => sigmoid(reduceMean(x, [1], { keepDims: true })),
  });
});

Deno.test("vjp of a non-scalar output seeded with a random upstream gradient, x used twice, one input unused", async () => {
  await checkVjp({
    inputs: { x: rand([3, 4], 53), w: rand([4, 2], 54), unused: rand([2], 55) },
    build: ({ x, w }) => add(matMul(sigmoid(x), w), matMul(x, w)),
    unused: ["unused"],
  });
});

Deno.test("vjp of attentionBlock() matches finite differences for both activations", async () => {
  const width = 8, heads = 2, mlpWidth = 16, seq = 3;
  let seed = 60;
  const t = (shape: number[], scale = 0.3) => ({
    shape,
    data: randn(shape.reduce((a, b) => a * b, 1), seed++, scale),
  });
  const ln = () => ({ weight: t([width], 1), bias: t([width], 0.1) });
  const weights: BlockWeights = {
    ln1: ln(),
    qkvWeight: t([3 * width, width]),
    qkvBias: t([3 * width], 0.1),
    outWeight: t([width, width]),
    outBias: t([width], 0.1),
    ln2: ln(),
    fcWeight: t([mlpWidth, width]),
    fcBias: t([mlpWidth], 0.1),
    projWeight: t([width, mlpWidth]),
    projBias: t([width], 0.1),
  };
  for (const activation of ["gelu", "quick_gelu"] as const) {
    const cfg = { width, heads, activation, layerNormEps: 1e-5 };
    await checkVjp({
      inputs: { x: { ...rand([2, seq, width], 70), shape: ["batch", "seq", width], dims: [2, seq, width] } },
      build: ({ x }) => {
        const g = x.graph;
        const causal = g.constant([0, -1e9, -1e9, 0, 0, -1e9, 0, 0, 0], [seq, seq]);
        return attentionBlock(x, blockParams(g, "b", weights, cfg), cfg, causal);
      },
    });
  }
});
