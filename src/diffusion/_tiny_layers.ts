/**
 * The layers of the tiny random UNet and VAE: convolutions, group norm with SiLU, a residual block
 * that takes a timestep embedding, and cross-attention from latent positions to text tokens, each
 * with seeded random weights. Scales keep activations of order one (weights ~ fan-in^-½, norm
 * weights near 1, small non-zero biases), so a random model's outputs are finite and vary with
 * every input.
 *
 * @module
 */
import {
  add,
  conv2d,
  type GraphBuilder,
  groupNorm,
  matMul,
  mul,
  reshape,
  reshapeLike,
  sigmoid,
  softmax,
  swapLastAxes,
  transpose,
  unsqueeze,
  type Value,
} from "../onnx/mod.ts";
import { Random } from "../random.ts";

/** Groups of every group norm (SD uses 32 with ≥ 128 channels; the tiny models have 16–32). */
export const TINY_GROUPS = 8;
const NORM_EPS = 1e-5;

/** Seeded random initializers: each tensor's values depend only on the seed and its name. */
export class TinyParams {
  readonly graph: GraphBuilder;
  readonly #seed: number;

  constructor(graph: GraphBuilder, seed: number) {
    this.graph = graph;
    this.#seed = seed;
  }

  /** A float32 initializer, uniform with mean `mean` and standard deviation `std`. */
  tensor(name: string, shape: readonly number[], std: number, mean = 0): Value {
    const n = shape.reduce((a, b) => a * b, 1);
    const random = Random.forStream(this.#seed, name);
    const half = std * Math.sqrt(3);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + (2 * random.next() - 1) * half;
    return this.graph.initializer(name, "float32", shape, data);
  }
}

/** A k×k convolution with bias, `pad` = k/2 rounded down unless given. */
export function conv(
  p: TinyParams,
  name: string,
  x: Value,
  channels: { in: number; out: number },
  opts: { kernel?: number; stride?: number } = {},
): Value {
  const k = opts.kernel ?? 3;
  const weight = p.tensor(`${name}.weight`, [channels.out, channels.in, k, k], (channels.in * k * k) ** -0.5);
  const bias = p.tensor(`${name}.bias`, [channels.out], 0.01);
  return conv2d(x, weight, { stride: opts.stride ?? 1, pad: Math.floor(k / 2), bias });
}

/** x · σ(x) */
export function silu(x: Value): Value {
  return mul(x, sigmoid(x));
}

/** Group norm over `channels`, then SiLU. */
export function normSilu(p: TinyParams, name: string, x: Value, channels: number): Value {
  const weight = p.tensor(`${name}.weight`, [channels], 0.02, 1);
  const bias = p.tensor(`${name}.bias`, [channels], 0.01);
  return silu(groupNorm(x, weight, bias, { groups: TINY_GROUPS, epsilon: NORM_EPS }));
}

/** `x @ W + b` over the last axis. */
export function dense(p: TinyParams, name: string, x: Value, dims: { in: number; out: number }): Value {
  const weight = p.tensor(`${name}.weight`, [dims.in, dims.out], dims.in ** -0.5);
  return add(matMul(x, weight), p.tensor(`${name}.bias`, [dims.out], 0.01));
}

/**
 * diffusers' ResnetBlock2D at one width: norm-SiLU-conv, plus the projected timestep embedding
 * `temb` [steps, tembWidth] (steps 1 or the batch) as a per-channel shift, norm-SiLU-conv, added to
 * the input.
 */
export function resBlock(
  p: TinyParams,
  name: string,
  x: Value,
  channels: number,
  temb?: { value: Value; width: number },
): Value {
  let h = conv(p, `${name}.conv1`, normSilu(p, `${name}.norm1`, x, channels), {
    in: channels,
    out: channels,
  });
  if (temb) {
    const shift = dense(p, `${name}.time_emb_proj`, silu(temb.value), { in: temb.width, out: channels });
    h = add(h, unsqueeze(shift, [2, 3]));
  }
  h = conv(p, `${name}.conv2`, normSilu(p, `${name}.norm2`, h, channels), { in: channels, out: channels });
  return add(x, h);
}

/**
 * One-head cross-attention of every latent position of `x` [n, C, h, w] to the text tokens
 * `context` [n, T, D], added back to `x`: how the conditioning reaches the UNet.
 */
export function crossAttention(
  p: TinyParams,
  name: string,
  x: Value,
  context: Value,
  dims: { channels: number; contextWidth: number },
): Value {
  const c = dims.channels;
  const normed = groupNorm(
    x,
    p.tensor(`${name}.norm.weight`, [c], 0.02, 1),
    p.tensor(`${name}.norm.bias`, [c], 0.01),
    { groups: TINY_GROUPS, epsilon: NORM_EPS },
  );
  const tokens = transpose(reshape(normed, [0, c, -1]), [0, 2, 1]); // [n, hw, C]
  const q = dense(p, `${name}.to_q`, tokens, { in: c, out: c });
  const k = dense(p, `${name}.to_k`, context, { in: dims.contextWidth, out: c });
  const v = dense(p, `${name}.to_v`, context, { in: dims.contextWidth, out: c });
  const scores = mul(matMul(q, swapLastAxes(k)), x.graph.scalar(c ** -0.5));
  const attended = dense(p, `${name}.to_out`, matMul(softmax(scores, -1), v), { in: c, out: c });
  return add(x, reshapeLike(transpose(attended, [0, 2, 1]), x));
}
