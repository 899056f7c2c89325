/**
 * The patch memory: every patch vector of the K normal images, and each test patch's cosine
 * distance to its nearest one.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/graph.ts";
import { matMul } from "../onnx/ops/linalg.ts";
import type { OnnxSession, SessionOptions } from "../onnx/runtime.ts";
import { ConfigError, ShapeError } from "../errors.ts";
import { reduceMax } from "./_graph_ops.ts";
import { openGraphSession } from "./_graph_session.ts";
import type { PatchFeatures } from "./patch_features.ts";

/** How an image's score comes from its patch distances. */
export type ImageScoreRule =
  /** The largest patch distance (PatchCore, the baseline). */
  | { kind: "max" }
  /** The mean of the `count` largest patch distances: one noisy patch no longer decides alone. */
  | { kind: "topMean"; count: number };

/** Options for {@linkcode PatchMemory.create}. */
export interface PatchMemoryOptions {
  /** @default {{ kind: "max" }} */
  imageScore?: ImageScoreRule;
  /**
   * Largest similarity matrix one run computes (queries × memory), bounding memory use.
   * @default {16_777_216}
   */
  maxBlock?: number;
  /**
   * Subtract the memory's mean patch from memory and queries (then renormalise) before comparing,
   * so that what every normal patch shares no longer inflates every cosine.
   * @default {false}
   */
  centre?: boolean;
  /** Session options of the search graph. */
  session?: SessionOptions;
}

/** Patch distances and image scores of test images. */
export interface PatchScores {
  n: number;
  gridH: number;
  gridW: number;
  /** [n, gridH·gridW]: 1 − the largest cosine to any memory patch. */
  distances: Float32Array;
  /** [n]. */
  imageScores: Float32Array;
}

/**
 * The nearest-neighbour search graph: inputs `queries` [q, D] and `memory_t` [D, M] (the memory,
 * transposed once when the memory is built), output `best` [q], each query's largest dot product.
 */
export function buildNearestGraph(): GraphBuilder {
  const g = new GraphBuilder("patch_nearest");
  const queries = g.input("queries", "float32", ["q", "d"]);
  const memoryT = g.input("memory_t", "float32", ["d", "m"]);
  g.output("best", reduceMax(matMul(queries, memoryT), [1], { keepDims: false }));
  return g;
}

/** A memory bank of normal patches on a search session. */
export class PatchMemory {
  /** Memory patches. */
  readonly size: number;
  readonly dim: number;
  readonly #memoryT: Float32Array;
  readonly #session: OnnxSession;
  readonly #imageScore: ImageScoreRule;
  readonly #maxBlock: number;
  readonly #mean: Float32Array | undefined;

  private constructor(
    memoryT: Float32Array,
    size: number,
    dim: number,
    session: OnnxSession,
    opts: PatchMemoryOptions & { mean?: Float32Array },
  ) {
    this.#memoryT = memoryT;
    this.#mean = opts.mean;
    this.size = size;
    this.dim = dim;
    this.#session = session;
    this.#imageScore = opts.imageScore ?? { kind: "max" };
    this.#maxBlock = opts.maxBlock ?? 16_777_216;
  }

  /**
   * Builds the memory from the normal images' patch features (augmented views included).
   *
   * @param bank every normal patch, [n, P, D]
   * @param opts image score rule and session options
   * @returns the memory, ready to score
   * @throws {ConfigError} when the image score rule is invalid
   */
  static async create(
    bank: PatchFeatures | readonly PatchFeatures[],
    opts: PatchMemoryOptions = {},
  ): Promise<PatchMemory> {
    const parts = Array.isArray(bank) ? bank as readonly PatchFeatures[] : [bank as PatchFeatures];
    if (parts.length === 0) throw new ShapeError("Patch memory needs at least one image's patches");
    const dim = parts[0].dim;
    let size = 0;
    for (const p of parts) {
      if (p.dim !== dim) throw new ShapeError(`Patch widths differ: ${p.dim} vs ${dim}`);
      size += p.n * p.gridH * p.gridW;
    }
    const rule = opts.imageScore ?? { kind: "max" };
    if (rule.kind === "topMean" && !(Number.isInteger(rule.count) && rule.count >= 1)) {
      throw new ConfigError(`Top-mean image score needs a positive integer count: got ${rule.count}`);
    }
    let mean: Float32Array | undefined;
    if (opts.centre) {
      mean = new Float32Array(dim);
      for (const p of parts) for (let i = 0; i < p.data.length; i++) mean[i % dim] += p.data[i];
      for (let k = 0; k < dim; k++) mean[k] /= size;
    }
    const memoryT = new Float32Array(dim * size);
    let row = 0;
    for (const p of parts) {
      const rows = p.n * p.gridH * p.gridW;
      const data = mean ? centred(p.data, mean) : p.data;
      for (let r = 0; r < rows; r++, row++) {
        for (let k = 0; k < dim; k++) memoryT[k * size + row] = data[r * dim + k];
      }
    }
    const session = await openGraphSession(buildNearestGraph(), { log: () => {}, ...opts.session });
    return new PatchMemory(memoryT, size, dim, session, { ...opts, mean });
  }

  /**
   * Each query patch's cosine distance to its nearest memory patch.
   *
   * @param queries [q, D] L2-normalised patch vectors
   * @returns [q] distances, 1 − max cosine
   */
  async nearestDistances(queries: Float32Array): Promise<Float32Array> {
    const q = queries.length / this.dim;
    if (!Number.isInteger(q)) {
      throw new ShapeError(`Queries hold ${queries.length} values, not a multiple of ${this.dim}`);
    }
    if (this.#mean) queries = centred(queries, this.#mean);
    const out = new Float32Array(q);
    const block = Math.max(1, Math.floor(this.#maxBlock / this.size));
    for (let start = 0; start < q; start += block) {
      const rows = Math.min(block, q - start);
      const res = await this.#session.run({
        queries: {
          data: queries.subarray(start * this.dim, (start + rows) * this.dim),
          dims: [rows, this.dim],
        },
        memory_t: { data: this.#memoryT, dims: [this.dim, this.size] },
      }, ["best"]);
      const best = res.best.data as Float32Array;
      for (let i = 0; i < rows; i++) out[start + i] = 1 - best[i];
    }
    return out;
  }

  /**
   * Patch distances and image scores of test images.
   *
   * @param test the test images' patch features
   * @returns distances per patch and a score per image
   * @throws {ShapeError} when the patch width differs from the memory's
   */
  async score(test: PatchFeatures): Promise<PatchScores> {
    if (test.dim !== this.dim) {
      throw new ShapeError(`Test patches have width ${test.dim}, the memory ${this.dim}`);
    }
    const distances = await this.nearestDistances(test.data);
    const cells = test.gridH * test.gridW;
    const imageScores = new Float32Array(test.n);
    for (let i = 0; i < test.n; i++) {
      imageScores[i] = imageScore(distances.subarray(i * cells, (i + 1) * cells), this.#imageScore);
    }
    return { n: test.n, gridH: test.gridH, gridW: test.gridW, distances, imageScores };
  }

  /**
   * Patch distances and scores of images on different grids, searched in one pass.
   *
   * @param tests one entry per image (or batch)
   * @returns one result per entry
   * @throws {ShapeError} when a patch width differs from the memory's
   */
  async scoreEach(tests: readonly PatchFeatures[]): Promise<PatchScores[]> {
    let total = 0;
    for (const t of tests) {
      if (t.dim !== this.dim) throw new ShapeError(`Test patches have width ${t.dim}, the memory ${this.dim}`);
      total += t.data.length;
    }
    const queries = new Float32Array(total);
    let at = 0;
    for (const t of tests) {
      queries.set(t.data, at);
      at += t.data.length;
    }
    const all = await this.nearestDistances(queries);
    let row = 0;
    return tests.map((t) => {
      const cells = t.gridH * t.gridW;
      const distances = all.slice(row, row + t.n * cells);
      row += t.n * cells;
      const imageScores = new Float32Array(t.n);
      for (let i = 0; i < t.n; i++) {
        imageScores[i] = imageScore(distances.subarray(i * cells, (i + 1) * cells), this.#imageScore);
      }
      return { n: t.n, gridH: t.gridH, gridW: t.gridW, distances, imageScores };
    });
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.#session.dispose();
  }
}

/** Rows of `data` minus `mean`, renormalised to unit length (a new array). */
function centred(data: Float32Array, mean: Float32Array): Float32Array {
  const dim = mean.length;
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length; r += dim) {
    let sq = 0;
    for (let k = 0; k < dim; k++) {
      const v = data[r + k] - mean[k];
      out[r + k] = v;
      sq += v * v;
    }
    const inv = 1 / Math.sqrt(sq + 1e-12);
    for (let k = 0; k < dim; k++) out[r + k] *= inv;
  }
  return out;
}

/**
 * An image's score from its patch distances.
 *
 * @param distances the image's patch distances
 * @param rule max, or mean of the largest `count`
 * @returns the score
 *
 * @example Mean of the top two
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(imageScore(Float32Array.of(0.1, 0.4, 0.2, 0.6), { kind: "topMean", count: 2 }), 0.5);
 * ```
 */
export function imageScore(distances: Float32Array, rule: ImageScoreRule): number {
  if (rule.kind === "max") {
    let m = -Infinity;
    for (const d of distances) if (d > m) m = d;
    return m;
  }
  const count = Math.min(rule.count, distances.length);
  const sorted = distances.slice().sort();
  let sum = 0;
  for (let i = sorted.length - count; i < sorted.length; i++) sum += sorted[i];
  return sum / count;
}
