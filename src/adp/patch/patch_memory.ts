/**
 * The patch memory: every patch vector of the K normal images (and of their views), and each test
 * patch's cosine distance to its nearest one — an ONNX graph, `queries @ memoryᵀ` then ReduceMax,
 * the memory fed as it is stored (onnxruntime folds the transpose into the product), so a station's
 * memory is held once, in its profile. Optionally a patch may also
 * be vouched for by its own frame's patches beyond a radius (self-reference, a second small graph),
 * and a frame may be scored through several views whose distance grids are averaged back.
 *
 * {@linkcode PATCH_DEFAULTS} is the configuration measured best with the proxy backbone on MVTec bottle,
 * magnetic tile and ELPV: the shots and their flips in the memory, frames scored through the same four
 * views, self-reference radius 2, the largest patch distance less its ring's edge excess (measured at
 * enrollment) as image score. The figures, and the ideas tried and dropped, are in
 * bench/PATCH_QUALITY.md; `bench/patch_quality.ts` reproduces them.
 *
 * @module
 */
import {
  add,
  dynamicQuantizeMatMul,
  GraphBuilder,
  matMul,
  type OnnxSession,
  openGraphSession,
  quantizeColumns,
  reduceMax,
  type SessionOptions,
  swapLastAxes,
  transpose,
} from "../../onnx/mod.ts";
import { ConfigError, ShapeError } from "../../errors.ts";
import { edgeOffsets } from "./edge_excess.ts";
import type { PatchFeatures } from "./patch_features.ts";
import { type View, viewSourceCells } from "./views.ts";

/** The configuration measured best on the four dev sets (bench/PATCH_QUALITY.md). */
export const PATCH_DEFAULTS = {
  /** Extractor: the backbone description's outputs and size; this intensity treatment. */
  intensity: "auto",
  /**
   * Neighbourhood averaged into each patch vector: none. PatchCore's 3×3 blurs a thin crack into its
   * neighbours; the four test views averaged already give the robustness it bought.
   */
  pool: 1,
  memoryViews: ["identity", "flipH", "flipV", "rot180"],
  testViews: ["identity", "flipH", "flipV", "rot180"],
  selfRadius: 2,
  imageScore: { kind: "max" },
  /** Outer rings of the grid whose usual excess over the interior enrollment measures (edge_excess.ts). */
  edgeRings: 2,
  /** Map blur in pixels at a 224-pixel frame; scale with the frame (wider without the pool). */
  sigma: 12,
} as const satisfies {
  intensity: string;
  pool: number;
  memoryViews: readonly View[];
  testViews: readonly View[];
  selfRadius: number;
  imageScore: ImageScoreRule;
  edgeRings: number;
  sigma: number;
};

/** How an image's score comes from its patch distances. */
export type ImageScoreRule =
  /** The largest patch distance (PatchCore, the baseline). */
  | { kind: "max" }
  /** The mean of the `count` largest patch distances: one noisy patch no longer decides alone. */
  | { kind: "topMean"; count: number };

/** Options for {@linkcode PatchMemory.create}. */
export interface PatchMemoryOptions {
  /** How patch distances become an image score. @default {{ kind: "max" }} */
  imageScore?: ImageScoreRule;
  /**
   * Largest similarity matrix one run computes (queries × memory), bounding memory use.
   * @default {16_777_216}
   */
  maxBlock?: number;
  /**
   * Self-reference: a test patch may also be matched by its own frame's patches that lie more than
   * this many grid cells away (Chebyshev distance); its distance is the smaller of the two. Normal
   * texture repeats across a frame, a defect rarely does, so frames of a normal variety that the K
   * shots happen not to show stop looking anomalous. Undefined turns it off.
   * @default {undefined}
   */
  selfRadius?: number;
  /**
   * Per ring of cells from the grid's edge (outermost first), the good parts' usual excess
   * distance over the interior, subtracted from a frame's view-averaged distances for its image
   * score (edge_excess.ts); the distances returned, which the map shows, are left as measured.
   * Empty: none.
   * @default {[]}
   */
  edgeExcess?: readonly number[];
  /** Session options of the search graph. */
  session?: SessionOptions;
  /**
   * The search's arithmetic. `int8`: the memory is quantised once per column (one memory patch
   * each, symmetric) and built into the search graph as a constant, the queries per run
   * (DynamicQuantizeMatMul: ≈ 3× float32's rate on this CPU); cosines move by ≈ 1e-3. With an
   * int8 vision graph the float32 search was a fifth of scoring's time.
   * @default {"fp32"}
   */
  precision?: "fp32" | "int8";
}

/** Patch distances and image scores of test images. */
export interface PatchScores {
  /** Test images. */
  n: number;
  /** Patch-grid rows. */
  gridH: number;
  /** Patch-grid columns. */
  gridW: number;
  /** [n, gridH·gridW]: 1 − the largest cosine to any memory patch. */
  distances: Float32Array;
  /**
   * [gridH·gridW]: the edge excess subtracted from each cell before the image score (not from
   * `distances`, which the anomaly map shows as measured); absent: none.
   */
  edgeOffsets?: Float32Array;
  /** [n]. */
  imageScores: Float32Array;
}

/**
 * The nearest-neighbour search graph: inputs `queries` [q, D] and `memory` [M, D], output `best`
 * [q], each query's largest dot product.
 */
export function buildNearestGraph(): GraphBuilder {
  const g = new GraphBuilder("patch_nearest");
  const queries = g.input("queries", "float32", ["q", "d"]);
  const memory = g.input("memory", "float32", ["m", "d"]);
  g.output("best", reduceMax(matMul(queries, swapLastAxes(memory)), [1], { keepDims: false }));
  return g;
}

/**
 * The int8 search graph: input `queries` [q, D], the memory a constant int8 [D, M] with one scale
 * per memory patch, output `best` [q], each query's largest (approximate) dot product.
 */
export function buildInt8NearestGraph(memory: Float32Array, size: number, dim: number): GraphBuilder {
  const transposed = new Float32Array(dim * size);
  for (let m = 0; m < size; m++) {
    for (let d = 0; d < dim; d++) transposed[d * size + m] = memory[m * dim + d];
  }
  const { weight, scale } = quantizeColumns(transposed, dim, size);
  const g = new GraphBuilder("patch_nearest_int8");
  const queries = g.input("queries", "float32", ["q", dim]);
  const products = dynamicQuantizeMatMul(
    queries,
    g.initializer("memory", "int8", [dim, size], weight),
    g.initializer("memory_scale", "float32", [size], scale),
  );
  g.output("best", reduceMax(products, [1], { keepDims: false }));
  return g;
}

/**
 * The self-reference graph: inputs `patches` [b, p, D] (frames of one grid) and `exclude` [p, p]
 * (0 where patch j may vouch for patch i, −4 where it lies within the radius: below any cosine),
 * output `best` [b, p], each patch's largest cosine to an allowed patch of its own frame.
 */
export function buildSelfGraph(): GraphBuilder {
  const g = new GraphBuilder("patch_self");
  const patches = g.input("patches", "float32", ["b", "p", "d"]);
  const exclude = g.input("exclude", "float32", ["p", "p"]);
  const similarity = add(matMul(patches, transpose(patches, [0, 2, 1])), exclude);
  g.output("best", reduceMax(similarity, [2], { keepDims: false }));
  return g;
}

/** The exclusion bias of a grid: −4 between cells within `radius` (Chebyshev), else 0. */
function exclusionBias(gridH: number, gridW: number, radius: number): Float32Array {
  const cells = gridH * gridW;
  const bias = new Float32Array(cells * cells);
  for (let i = 0; i < cells; i++) {
    const iy = Math.floor(i / gridW), ix = i % gridW;
    for (let j = 0; j < cells; j++) {
      const jy = Math.floor(j / gridW), jx = j % gridW;
      if (Math.max(Math.abs(iy - jy), Math.abs(ix - jx)) <= radius) bias[i * cells + j] = EXCLUDED;
    }
  }
  return bias;
}

/**
 * The tests' patches as one view when they lie back to back in one buffer (frames split from one
 * vision pass), so that the search reads them without a copy; undefined otherwise.
 */
function backToBack(tests: readonly PatchFeatures[]): Float32Array | undefined {
  const first = tests[0]?.data;
  if (!first) return undefined;
  let end = first.byteOffset + first.byteLength;
  for (let i = 1; i < tests.length; i++) {
    const d = tests[i].data;
    if (d.buffer !== first.buffer || d.byteOffset !== end) return undefined;
    end += d.byteLength;
  }
  return new Float32Array(first.buffer, first.byteOffset, (end - first.byteOffset) / 4);
}

/** Below any cosine, so an excluded pair never wins the maximum. */
const EXCLUDED = -4;

/** A memory bank of normal patches on a search session. */
export class PatchMemory {
  /** Memory patches. */
  readonly size: number;
  /** Width of a patch vector. */
  readonly dim: number;
  /** The memory fed to each float32 search; undefined when the graph holds it (int8). */
  readonly #memory: Float32Array | undefined;
  readonly #session: OnnxSession;
  readonly #imageScore: ImageScoreRule;
  readonly #maxBlock: number;
  readonly #selfRadius: number | undefined;
  readonly #edgeExcess: readonly number[];
  readonly #edgeOffsets = new Map<string, Float32Array>();
  readonly #selfSession: OnnxSession | undefined;
  readonly #exclusions = new Map<string, Float32Array>();
  readonly #viewCells = new Map<string, Int32Array>();

  private constructor(
    memory: Float32Array | undefined,
    size: number,
    dim: number,
    session: OnnxSession,
    opts: PatchMemoryOptions & { selfSession?: OnnxSession },
  ) {
    this.#memory = memory;
    this.#selfRadius = opts.selfRadius;
    this.#edgeExcess = opts.edgeExcess ?? [];
    this.#selfSession = opts.selfSession;
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
    const radius = opts.selfRadius;
    if (radius !== undefined && !(Number.isInteger(radius) && radius >= 0)) {
      throw new ConfigError(`Self-reference radius must be a non-negative integer: got ${radius}`);
    }
    // One part (a profile's memory) is used as it is; several are concatenated once.
    let memory: Float32Array;
    if (parts.length === 1) memory = parts[0].data.subarray(0, size * dim);
    else {
      memory = new Float32Array(size * dim);
      let at = 0;
      for (const p of parts) {
        memory.set(p.data.subarray(0, p.n * p.gridH * p.gridW * dim), at);
        at += p.n * p.gridH * p.gridW * dim;
      }
    }
    const sessionOpts = { log: () => {}, ...opts.session };
    const int8 = opts.precision === "int8";
    const session = await openGraphSession(
      int8 ? buildInt8NearestGraph(memory, size, dim) : buildNearestGraph(),
      sessionOpts,
    );
    const selfSession = radius === undefined
      ? undefined
      : await openGraphSession(buildSelfGraph(), sessionOpts);
    return new PatchMemory(int8 ? undefined : memory, size, dim, session, { ...opts, selfSession });
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
    const out = new Float32Array(q);
    const block = Math.max(1, Math.floor(this.#maxBlock / this.size));
    for (let start = 0; start < q; start += block) {
      const rows = Math.min(block, q - start);
      const res = await this.#session.run({
        queries: {
          data: queries.subarray(start * this.dim, (start + rows) * this.dim),
          dims: [rows, this.dim],
        },
        ...(this.#memory ? { memory: { data: this.#memory, dims: [this.size, this.dim] } } : {}),
      }, ["best"]);
      const best = res.best.data as Float32Array;
      for (let i = 0; i < rows; i++) out[start + i] = 1 - best[i];
    }
    return out;
  }

  /**
   * Patch distances and image scores of test images on one grid.
   *
   * @param test the test images' patch features
   * @returns distances per patch and a score per image
   * @throws {ShapeError} when the patch width differs from the memory's
   */
  async score(test: PatchFeatures): Promise<PatchScores> {
    return (await this.scoreEach([test]))[0];
  }

  /**
   * Patch distances and scores of images on different grids; the memory is searched in one pass.
   *
   * @param tests one entry per image (or batch of one grid)
   * @returns one result per entry
   * @throws {ShapeError} when a patch width differs from the memory's
   */
  async scoreEach(tests: readonly PatchFeatures[]): Promise<PatchScores[]> {
    let total = 0;
    for (const t of tests) {
      if (t.dim !== this.dim) {
        throw new ShapeError(`Test patches have width ${t.dim}, the memory ${this.dim}`);
      }
      total += t.data.length;
    }
    let queries = backToBack(tests);
    if (!queries) {
      queries = new Float32Array(total);
      let at = 0;
      for (const t of tests) {
        queries.set(t.data, at);
        at += t.data.length;
      }
    }
    const all = await this.nearestDistances(queries);
    let row = 0;
    const results: PatchScores[] = [];
    for (const t of tests) {
      const cells = t.gridH * t.gridW;
      const distances = all.slice(row, row + t.n * cells);
      row += t.n * cells;
      if (this.#selfSession) {
        const self = await this.#selfDistances(t);
        for (let i = 0; i < distances.length; i++) if (self[i] < distances[i]) distances[i] = self[i];
      }
      const imageScores = new Float32Array(t.n);
      for (let i = 0; i < t.n; i++) {
        imageScores[i] = imageScore(distances.subarray(i * cells, (i + 1) * cells), this.#imageScore);
      }
      results.push({ n: t.n, gridH: t.gridH, gridW: t.gridW, distances, imageScores });
    }
    return results;
  }

  /**
   * Scores frames seen through several views (test-time augmentation): each view is scored on its
   * own, its distance grid is brought back to the frame's orientation, and the grids are averaged.
   * Averaging views cancels much of the backbone's orientation-dependent noise (the proxy's
   * TensorFlow-style padding is one-sided, so a flipped frame is sampled on a shifted lattice).
   *
   * @param features `frames × views.length` single-frame features, frame-major (as
   *   `extractViews` and `testViewFeatures` return them)
   * @param views the views, in the order each frame's features come
   * @returns per frame, its averaged distances and its image score (less the edge excess)
   * @throws {ShapeError} when the count is not a multiple of the views or a frame's views disagree
   */
  async scoreViews(features: readonly PatchFeatures[], views: readonly View[]): Promise<PatchScores[]> {
    if (views.length === 0 || features.length % views.length !== 0) {
      throw new ShapeError(`${features.length} feature sets do not hold ${views.length} views per frame`);
    }
    const scores = await this.scoreEach(features);
    const out: PatchScores[] = [];
    for (let i = 0; i < scores.length; i += views.length) {
      const { gridH, gridW } = scores[i];
      const merged = new Float32Array(gridH * gridW);
      views.forEach((view, v) => {
        const d = scores[i + v].distances;
        if (d.length !== merged.length) {
          throw new ShapeError(
            `View ${view} of frame ${i / views.length} holds ${d.length} cells, not ${merged.length}`,
          );
        }
        const source = this.#sourceCells(gridW, gridH, view);
        for (let j = 0; j < source.length; j++) merged[source[j]] += d[j] / views.length;
      });
      const edgeOffsets = this.#edgeExcess.length ? this.#offsets(gridW, gridH) : undefined;
      const score = Float32Array.of(imageScore(merged, this.#imageScore, edgeOffsets));
      out.push({
        n: 1,
        gridH,
        gridW,
        distances: merged,
        imageScores: score,
        ...(edgeOffsets ? { edgeOffsets } : {}),
      });
    }
    return out;
  }

  /** The edge excess of each cell of a grid: one table per grid. */
  #offsets(gridW: number, gridH: number): Float32Array {
    const key = `${gridW}x${gridH}`;
    let offsets = this.#edgeOffsets.get(key);
    if (!offsets) {
      offsets = edgeOffsets({ gridH, gridW }, this.#edgeExcess);
      this.#edgeOffsets.set(key, offsets);
    }
    return offsets;
  }

  /** Where each cell of a view's grid comes from in the frame's grid: one table per grid and view. */
  #sourceCells(width: number, height: number, view: View): Int32Array {
    const key = `${width}x${height}:${view}`;
    let cells = this.#viewCells.get(key);
    if (!cells) {
      cells = viewSourceCells({ width, height }, view);
      this.#viewCells.set(key, cells);
    }
    return cells;
  }

  /** 1 − each patch's largest cosine to its own frame's patches beyond the self-reference radius. */
  async #selfDistances(t: PatchFeatures): Promise<Float32Array> {
    const cells = t.gridH * t.gridW;
    const key = `${t.gridH}x${t.gridW}`;
    let exclude = this.#exclusions.get(key);
    if (!exclude) {
      exclude = exclusionBias(t.gridH, t.gridW, this.#selfRadius!);
      this.#exclusions.set(key, exclude);
    }
    const out = new Float32Array(t.n * cells);
    const block = Math.max(1, Math.floor(this.#maxBlock / (cells * cells)));
    const per = cells * this.dim;
    for (let start = 0; start < t.n; start += block) {
      const frames = Math.min(block, t.n - start);
      const res = await this.#selfSession!.run({
        patches: {
          data: t.data.subarray(start * per, (start + frames) * per),
          dims: [frames, cells, this.dim],
        },
        exclude: { data: exclude, dims: [cells, cells] },
      }, ["best"]);
      const best = res.best.data as Float32Array;
      for (let i = 0; i < frames * cells; i++) out[start * cells + i] = 1 - best[i];
    }
    return out;
  }

  /** Releases the sessions. */
  async dispose(): Promise<void> {
    await this.#session.dispose();
    await this.#selfSession?.dispose();
  }
}

/**
 * An image's score from its patch distances.
 *
 * @param distances the image's patch distances
 * @param rule max, or mean of the largest `count`
 * @param offsets subtracted from the distances cell by cell first (the edge excess); absent: none
 * @returns the score
 * @throws {ShapeError} when the offsets do not fit the distances
 *
 * @example Mean of the top two
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(imageScore(Float32Array.of(0.125, 0.5, 0.25, 0.75), { kind: "topMean", count: 2 }), 0.625);
 * ```
 */
export function imageScore(distances: Float32Array, rule: ImageScoreRule, offsets?: Float32Array): number {
  if (offsets) {
    if (offsets.length !== distances.length) {
      throw new ShapeError(`${offsets.length} offsets do not fit ${distances.length} patch distances`);
    }
    distances = distances.map((d, c) => d - offsets[c]);
  }
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
