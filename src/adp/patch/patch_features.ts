/**
 * Patch features: what the patch branch compares. A backbone's feature maps of one or more layers
 * become one L2-normalised vector per cell of a common grid, each describing a small neighbourhood
 * (PatchCore's locally aware features): every layer is averaged over a `pool`×`pool` window
 * (stride 1), L2-normalised over channels so that layers of different magnitude weigh alike,
 * brought to the grid (average-pooled when finer, bilinearly upsampled when coarser), concatenated
 * and normalised once more. Cosine similarity is then a plain dot product.
 *
 * All of it is one small ONNX graph fed with the backbone's outputs.
 *
 * @module
 */
import {
  add,
  averagePool,
  concat,
  div,
  GraphBuilder,
  mul,
  type OnnxSession,
  openGraphSession,
  reduceSum,
  type RunTensor,
  type SessionOptions,
  sqrt,
  transpose,
  upsampleLinear,
  type Value,
} from "../../onnx/mod.ts";
import { ConfigError, ShapeError } from "../../errors.ts";

/** Patch vectors of `n` images on a `gridH`×`gridW` grid, row-major, each L2-normalised. */
export interface PatchFeatures {
  /** Images. */
  n: number;
  /** Patch-grid rows. */
  gridH: number;
  /** Patch-grid columns. */
  gridW: number;
  /** Width of a patch vector. */
  dim: number;
  /** [n, gridH·gridW, dim]. */
  data: Float32Array;
}

/** One backbone output that goes into the patch vectors. */
export interface PatchLayer {
  /** The output's name. */
  name: string;
  /** Its channels. */
  channels: number;
  /** Input pixels per feature-map cell. */
  stride: number;
  /**
   * Relative weight of this layer in the concatenation (its share of the squared norm).
   * @default {1}
   */
  weight?: number;
}

/** How feature maps become patch vectors. */
export interface PatchHeadOptions {
  layers: PatchLayer[];
  /** Input pixels per grid cell; must be a layer's stride or an integer multiple or divisor of each. */
  gridStride: number;
  /**
   * Side of the neighbourhood averaged into each cell before normalising (odd; 1 = none).
   * @default {3}
   */
  pool?: number;
}

const EPSILON = 1e-12;

/**
 * Builds the patch head graph: one input per layer ([n, C, H, W], named after the layer), output
 * `patches` [n, gridH, gridW, D].
 *
 * @param opts layers, grid and neighbourhood
 * @returns the graph
 * @throws {ConfigError} when the pool is not a positive odd integer or a stride does not divide into
 *   the grid's
 *
 * @example The proxy baseline's head
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const g = buildPatchHead({
 *   layers: [{ name: "features_14", channels: 96, stride: 16 }, { name: "features_28", channels: 32, stride: 8 }],
 *   gridStride: 16,
 * });
 * strictEqual(g.outputs[0].shape[3], 128);
 * ```
 */
export function buildPatchHead(opts: PatchHeadOptions): GraphBuilder {
  const pool = opts.pool ?? 3;
  if (!Number.isInteger(pool) || pool < 1 || pool % 2 === 0) {
    throw new ConfigError(`Patch pool must be a positive odd integer: got ${pool}`);
  }
  if (opts.layers.length === 0) throw new ConfigError("Patch head needs at least one layer");
  const g = new GraphBuilder("patch_head");
  const parts: Value[] = [];
  for (const layer of opts.layers) {
    const x = g.input(layer.name, "float32", ["n", layer.channels, `${layer.name}_h`, `${layer.name}_w`]);
    const pooled = pool > 1 ? averagePool(x, { kernel: pool, stride: 1, pad: (pool - 1) / 2 }) : x;
    let v = l2Normalise(pooled, 1);
    const weight = layer.weight ?? 1;
    if (!(weight > 0)) throw new ConfigError(`Layer ${layer.name} weight must be positive: got ${weight}`);
    if (weight !== 1) v = mul(v, g.scalar(Math.sqrt(weight)));
    if (layer.stride < opts.gridStride) {
      const f = opts.gridStride / layer.stride;
      if (!Number.isInteger(f)) throw strideError(layer, opts.gridStride);
      v = averagePool(v, { kernel: f, stride: f, pad: 0 });
    } else if (layer.stride > opts.gridStride) {
      const f = layer.stride / opts.gridStride;
      if (!Number.isInteger(f)) throw strideError(layer, opts.gridStride);
      v = upsampleLinear(v, f);
    }
    parts.push(v);
  }
  const joined = parts.length === 1 ? parts[0] : concat(parts, 1);
  g.output("patches", transpose(l2Normalise(joined, 1), [0, 2, 3, 1]));
  return g;
}

function strideError(layer: PatchLayer, gridStride: number): ConfigError {
  return new ConfigError(
    `Layer ${layer.name} has stride ${layer.stride}, which does not divide into the grid stride ${gridStride}`,
  );
}

/** x / ‖x‖ along `axis`. */
function l2Normalise(x: Value, axis: number): Value {
  const g = x.graph;
  const norm = sqrt(add(reduceSum(mul(x, x), [axis], { keepDims: true }), g.scalar(EPSILON)));
  return div(x, norm);
}

/** The patch head graph on a session. */
export class PatchHead {
  readonly options: PatchHeadOptions;
  readonly dim: number;
  readonly #session: OnnxSession;

  private constructor(options: PatchHeadOptions, session: OnnxSession) {
    this.options = options;
    this.dim = options.layers.reduce((d, l) => d + l.channels, 0);
    this.#session = session;
  }

  /**
   * Builds and opens the head.
   *
   * @param opts layers, grid and neighbourhood
   * @param session device and threads
   * @returns the head, ready to run
   */
  static async open(opts: PatchHeadOptions, session: SessionOptions = {}): Promise<PatchHead> {
    return new PatchHead(opts, await openGraphSession(buildPatchHead(opts), { log: () => {}, ...session }));
  }

  /**
   * Patch vectors of feature maps.
   *
   * @param maps each layer's output [n, C, H, W] by name
   * @returns the patch features
   * @throws {ShapeError} when a layer is missing or its channels differ from the options
   */
  async run(maps: Record<string, RunTensor>): Promise<PatchFeatures> {
    const feeds: Record<string, RunTensor> = {};
    for (const layer of this.options.layers) {
      const m = maps[layer.name];
      if (!m) throw new ShapeError(`Feature map ${layer.name} is missing`);
      if (m.dims.length !== 4 || m.dims[1] !== layer.channels) {
        throw new ShapeError(
          `Feature map ${layer.name} is [${m.dims}], expected [n, ${layer.channels}, h, w]`,
        );
      }
      feeds[layer.name] = m;
    }
    const out = (await this.#session.run(feeds, ["patches"])).patches;
    const [n, gridH, gridW, dim] = out.dims;
    return { n, gridH, gridW, dim, data: out.data as Float32Array };
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.#session.dispose();
  }
}

/** One {@linkcode PatchFeatures} per image, each a view of `features.data` (nothing is copied). */
export function splitFeatures(features: PatchFeatures): PatchFeatures[] {
  const per = features.gridH * features.gridW * features.dim;
  return Array.from({ length: features.n }, (_, i) => ({
    ...features,
    n: 1,
    data: features.data.subarray(i * per, (i + 1) * per),
  }));
}

/**
 * Concatenates patch features of the same grid and width along the image axis.
 *
 * @throws {ShapeError} when grids or widths differ
 */
export function concatFeatures(parts: readonly PatchFeatures[]): PatchFeatures {
  if (parts.length === 1) return parts[0];
  const [first] = parts;
  let n = 0;
  for (const p of parts) {
    if (p.gridH !== first.gridH || p.gridW !== first.gridW || p.dim !== first.dim) {
      throw new ShapeError(
        `Patch features differ: ${p.gridH}×${p.gridW}×${p.dim} vs ${first.gridH}×${first.gridW}×${first.dim}`,
      );
    }
    n += p.n;
  }
  const data = new Float32Array(n * first.gridH * first.gridW * first.dim);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { n, gridH: first.gridH, gridW: first.gridW, dim: first.dim, data };
}
