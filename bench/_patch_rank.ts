/**
 * Ranking experiments of the patch branch for bench/patch_quality.ts: the memory distance as the mean
 * of the k nearest memory patches, and/or divided by the local density of the memory around its
 * nearest patch (that patch's distance to its nearest patch of another shot, as in a local outlier
 * factor). The similarity blocks come from onnxruntime, the per-row reductions from plain loops, so
 * the screening is slower than the product's fused ReduceMax search; with `knn: 1` and no density it
 * gives the product's scores (the bench checks that once per run).
 *
 * @module
 */
import { GraphBuilder, matMul, type OnnxSession, openGraphSession, swapLastAxes } from "../src/onnx/mod.ts";
import type { PatchFeatures } from "../src/adp/patch/patch_features.ts";
import type { PatchScores } from "../src/adp/patch/patch_memory.ts";
import { type View, viewSourceCells } from "../src/adp/patch/views.ts";
import { concatFloat32 } from "../src/vector.ts";

/** How the experimental memory turns similarities into a patch distance. */
export interface RankRule {
  /** Mean distance of this many nearest memory patches (1 = the nearest). */
  knn: number;
  /** Divide by the nearest memory patch's own distance to another shot, scaled by the median of those. */
  density: boolean;
  /** Self-reference radius in grid cells; undefined = off. */
  selfRadius?: number;
}

/** Largest similarity block one run computes. */
const MAX_BLOCK = 16_777_216;

/** A memory of normal patches scored by a {@linkcode RankRule}. */
export class RankMemory {
  readonly #memory: Float32Array;
  readonly #size: number;
  readonly #dim: number;
  readonly #session: OnnxSession;
  readonly #rule: RankRule;
  /** Per memory patch: median density ÷ its density (1 everywhere without density). */
  readonly #weight: Float32Array;

  private constructor(
    memory: Float32Array,
    dim: number,
    session: OnnxSession,
    rule: RankRule,
    weight: Float32Array,
  ) {
    this.#memory = memory;
    this.#dim = dim;
    this.#size = memory.length / dim;
    this.#session = session;
    this.#rule = rule;
    this.#weight = weight;
  }

  /**
   * @param shots per shot, the features of its views (one frame each)
   * @param rule the scoring rule
   */
  static async create(shots: PatchFeatures[][], rule: RankRule): Promise<RankMemory> {
    const dim = shots[0][0].dim;
    const perShot = shots.map((views) => concatFloat32(views.map((v) => v.data)));
    const memory = concatFloat32(perShot);
    const session = await openGraphSession(similarityGraph(), { log: () => {}, threads: 1 });
    const weight = new Float32Array(memory.length / dim).fill(1);
    const self = new RankMemory(memory, dim, session, rule, weight);
    if (rule.density && shots.length > 1) {
      const rho = new Float32Array(weight.length);
      let at = 0;
      for (const [s, patches] of perShot.entries()) {
        const others = concatFloat32(perShot.filter((_, j) => j !== s));
        const near = await self.#nearest(patches, others, 1);
        rho.set(near.distance, at);
        at += near.distance.length;
      }
      const median = rho.slice().sort()[rho.length >> 1];
      const floor = 0.25 * median;
      for (let i = 0; i < rho.length; i++) weight[i] = median / Math.max(rho[i], floor);
    }
    return self;
  }

  /** Patch distances of frames seen through views, averaged back into the frame's grid. */
  async scoreViews(features: readonly PatchFeatures[], views: readonly View[]): Promise<PatchScores[]> {
    const out: PatchScores[] = [];
    for (let i = 0; i < features.length; i += views.length) {
      const { gridH, gridW } = features[i];
      const merged = new Float32Array(gridH * gridW);
      for (const [v, view] of views.entries()) {
        const d = await this.#distances(features[i + v]);
        const source = viewSourceCells({ width: gridW, height: gridH }, view);
        for (let j = 0; j < source.length; j++) merged[source[j]] += d[j] / views.length;
      }
      let max = -Infinity;
      for (const d of merged) if (d > max) max = d;
      out.push({ n: 1, gridH, gridW, distances: merged, imageScores: Float32Array.of(max) });
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.#session.dispose();
  }

  /** One frame's patch distances under the rule (memory, then the self-reference minimum). */
  async #distances(frame: PatchFeatures): Promise<Float32Array> {
    const near = await this.#nearest(frame.data, this.#memory, this.#rule.knn);
    const d = near.distance;
    for (let i = 0; i < d.length; i++) d[i] *= this.#weight[near.index[i]];
    if (this.#rule.selfRadius === undefined) return d;
    const { gridH, gridW } = frame;
    const cells = gridH * gridW;
    const sim = await this.#similarity(frame.data, frame.data);
    for (let i = 0; i < cells; i++) {
      const iy = Math.floor(i / gridW), ix = i % gridW;
      let best = -Infinity;
      for (let j = 0; j < cells; j++) {
        const far = Math.max(Math.abs(iy - Math.floor(j / gridW)), Math.abs(ix - j % gridW)) >
          this.#rule.selfRadius;
        if (far && sim[i * cells + j] > best) best = sim[i * cells + j];
      }
      if (1 - best < d[i]) d[i] = 1 - best;
    }
    return d;
  }

  /** Per query, the mean distance of its `k` nearest memory patches and the index of the nearest. */
  async #nearest(
    queries: Float32Array,
    memory: Float32Array,
    k: number,
  ): Promise<{ distance: Float32Array; index: Int32Array }> {
    const q = queries.length / this.#dim, m = memory.length / this.#dim;
    const distance = new Float32Array(q), index = new Int32Array(q);
    const block = Math.max(1, Math.floor(MAX_BLOCK / m));
    const top = new Float32Array(k);
    for (let start = 0; start < q; start += block) {
      const rows = Math.min(block, q - start);
      const sim = await this.#similarity(
        queries.subarray(start * this.#dim, (start + rows) * this.#dim),
        memory,
      );
      for (let r = 0; r < rows; r++) {
        top.fill(-Infinity);
        let arg = 0;
        const base = r * m;
        for (let j = 0; j < m; j++) {
          const s = sim[base + j];
          if (s <= top[k - 1]) continue;
          if (s > top[0]) arg = j;
          let p = k - 1;
          while (p > 0 && top[p - 1] < s) {
            top[p] = top[p - 1];
            p--;
          }
          top[p] = s;
        }
        let sum = 0;
        for (let t = 0; t < k; t++) sum += 1 - top[t];
        distance[start + r] = sum / k;
        index[start + r] = arg;
      }
    }
    return { distance, index };
  }

  async #similarity(a: Float32Array, b: Float32Array): Promise<Float32Array> {
    const res = await this.#session.run({
      a: { data: a, dims: [a.length / this.#dim, this.#dim] },
      b: { data: b, dims: [b.length / this.#dim, this.#dim] },
    }, ["s"]);
    return res.s.data as Float32Array;
  }
}

function similarityGraph(): GraphBuilder {
  const g = new GraphBuilder("rank_similarity");
  const a = g.input("a", "float32", ["p", "d"]);
  const b = g.input("b", "float32", ["m", "d"]);
  g.output("s", matMul(a, swapLastAxes(b)));
  return g;
}
