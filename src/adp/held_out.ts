/**
 * The raw material of calibration: how far each shot's patches lie from each other shot's, view by
 * view. With it, the score a shot would get against any memory made of the other shots' views — a
 * memory of one other shot, of K − 1, or of a random half of them — is a few minimum and maximum
 * operations (calibration.ts), not another search. That is what lets calibration see how the
 * scores of unseen good parts shrink as the memory grows, and extrapolate to the K-shot memory
 * that will actually score them.
 *
 * For every shot i and test view u, and every memory grid (shot j, memory view w): the cosine
 * distance of each patch of view u of shot i to its nearest patch in that one grid, brought back
 * to the frame's orientation (as `PatchMemory.scoreViews` does before averaging views). With
 * self-reference, each patch's distance to its own view's patches beyond the radius.
 *
 * @module
 */
import { ShapeError } from "../errors.ts";
import { openGraphSession } from "../onnx/mod.ts";
import {
  buildNearestGraph,
  type ImageScoreRule,
  type PatchFeatures,
  type View,
  viewSourceCells,
} from "./patch/mod.ts";

/** Distances between the shots' patch grids, per shot, test view, memory grid and cell. */
export interface HeldOutDistances {
  /** Shots K. */
  shots: number;
  /** Test views U (a frame's score averages them). */
  testViews: number;
  /** Views W of each shot in the memory. */
  memoryViews: number;
  /** Cells P of a grid. */
  cells: number;
  /**
   * [K, U, K, W, P]: patch c (frame orientation) of shot i seen through test view u, its distance
   * to the nearest patch of shot j's memory view w. Entries with i = j are kept (a shot against
   * its own other views: what one shot can say about itself).
   */
  cross: Float32Array;
  /** [K, U, P]: the self-reference distance of each patch, or null without self-reference. */
  self: Float32Array | null;
  /** How the patch distances of a frame become its image score (the profile's rule). */
  imageScore: ImageScoreRule;
  /**
   * [K, P]: the edge offsets subtracted from each shot's distances before its image score
   * (calibration.ts `measureShotEdgeExcess`); absent: none.
   */
  edgeOffsets?: Float32Array;
}

/**
 * Measures {@linkcode HeldOutDistances}.
 *
 * @param bank each shot's memory views, one PatchFeatures of W grids per shot
 * @param queries each shot's test views, K·U single-grid features, shot-major
 * @param testViews the test views, in the order of each shot's queries
 * @param opts the self-reference radius (null: off) and the image score rule
 */
export async function heldOutDistances(
  bank: readonly PatchFeatures[],
  queries: readonly PatchFeatures[],
  testViews: readonly View[],
  opts: { selfRadius: number | null; imageScore: ImageScoreRule },
): Promise<HeldOutDistances> {
  const k = bank.length, u = testViews.length;
  if (k === 0 || queries.length !== k * u) {
    throw new ShapeError(`${queries.length} query grids do not hold ${u} test views of ${k} shots`);
  }
  const { gridH, gridW, dim } = bank[0];
  const w = bank[0].n, cells = gridH * gridW, per = cells * dim;
  for (const q of [...bank, ...queries]) {
    if (q.gridH !== gridH || q.gridW !== gridW || q.dim !== dim || (queries.includes(q) && q.n !== 1)) {
      throw new ShapeError("Held-out distances need every grid of one shape");
    }
  }
  const all = new Float32Array(k * u * per);
  queries.forEach((q, i) => all.set(q.data.subarray(0, per), i * per));
  const sources = testViews.map((view) => viewSourceCells({ width: gridW, height: gridH }, view));
  const cross = new Float32Array(k * u * k * w * cells);
  const session = await openGraphSession(buildNearestGraph(), { log: () => {} });
  try {
    for (let j = 0; j < k; j++) {
      for (let m = 0; m < w; m++) {
        const res = await session.run({
          queries: { data: all, dims: [k * u * cells, dim] },
          memory: { data: bank[j].data.subarray(m * per, (m + 1) * per), dims: [cells, dim] },
        }, ["best"]);
        const best = res.best.data as Float32Array;
        for (let i = 0; i < k; i++) {
          for (let v = 0; v < u; v++) {
            const from = (i * u + v) * cells, source = sources[v];
            const to = (((i * u + v) * k + j) * w + m) * cells;
            for (let c = 0; c < cells; c++) cross[to + source[c]] = 1 - best[from + c];
          }
        }
      }
    }
  } finally {
    await session.dispose();
  }
  let self: Float32Array | null = null;
  if (opts.selfRadius !== null) {
    self = new Float32Array(k * u * cells);
    for (let g = 0; g < k * u; g++) {
      const d = selfDistances(all.subarray(g * per, (g + 1) * per), gridH, gridW, dim, opts.selfRadius);
      const source = sources[g % u];
      for (let c = 0; c < cells; c++) self[g * cells + source[c]] = d[c];
    }
  }
  return { shots: k, testViews: u, memoryViews: w, cells, cross, self, imageScore: opts.imageScore };
}

/** 1 − each patch's largest cosine to its grid's patches beyond `radius` cells (Chebyshev). */
function selfDistances(
  grid: Float32Array,
  gridH: number,
  gridW: number,
  dim: number,
  radius: number,
): Float32Array {
  const cells = gridH * gridW;
  const out = new Float32Array(cells);
  for (let a = 0; a < cells; a++) {
    const ay = Math.floor(a / gridW), ax = a % gridW;
    let best = -4;
    for (let b = 0; b < cells; b++) {
      const by = Math.floor(b / gridW), bx = b % gridW;
      if (Math.max(Math.abs(ay - by), Math.abs(ax - bx)) <= radius) continue;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += grid[a * dim + d] * grid[b * dim + d];
      if (dot > best) best = dot;
    }
    out[a] = 1 - best;
  }
  return out;
}
