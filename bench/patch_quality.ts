/**
 * Detection quality of the patch branch on real images, beside the plain nearest-neighbour baseline
 * of `../shared/models/proxy/README.md`.
 *
 * ```
 * deno run -A bench/patch_quality.ts [--dataset bottle|tile|mono|poly|all] [--k 1,2,4,8,16] [--seeds 0,1,2]
 *     [--variant baseline,final] [--draw ours|numpy] [--variant-json '{"selfRadius":1}'] [--detail]
 *     [--threads 2]
 * ```
 *
 * Protocol (the README's): K normal images drawn per seed from `train/good`; image AUROC over all
 * test images; pixel AUROC over all test pixels at 224×224, masks resized bilinearly (Pillow's
 * filter) and thresholded at 128, the distance map resized to 224×224; means over the seeds. ELPV
 * mono and poly (solar cells) hold image labels only: no maps are made for them and pixel AUROC
 * shows as absent. Draws
 * come from our seeded generator (`--draw ours`, what the product uses) or reproduce numpy's
 * `RandomState(seed).choice(n, k, replace=False)` (`--draw numpy`), with which the baseline variant
 * lands on the README's table to ≤ 0.001. Features of the images that any seed draws are extracted
 * once per variant; the memory is rebuilt per (K, seed).
 *
 * `baseline` is the README's procedure; `final` the configuration `PATCH_DEFAULTS` holds, documented
 * with its figures in bench/PATCH_QUALITY.md. `--variant-json` overrides fields of the chosen variant,
 * which is how the ablations listed there were run (among them the ranking experiments `knn`,
 * `density` and `cellBaseline`, screened on all four sets for issue #11, and `edgeRings`: 0 is the
 * configuration before the edge excess); `--detail` adds per-defect AUROCs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { loadBackboneConfig } from "../src/adp/patch/backbone_config.ts";
import type { FeatureExtractor } from "../src/adp/patch/feature_extractor.ts";
import type { IntensityMode } from "../src/adp/patch/intensity.ts";
import { openOnnxExtractor } from "../src/adp/patch/onnx_extractor.ts";
import { concatFeatures, type PatchFeatures } from "../src/adp/patch/patch_features.ts";
import { type ImageScoreRule, PATCH_DEFAULTS, PatchMemory } from "../src/adp/patch/patch_memory.ts";
import { type HeldOutDistances, heldOutDistances } from "../src/adp/held_out.ts";
import { measureShotEdgeExcess } from "../src/adp/calibration.ts";
import { RankMemory } from "./_patch_rank.ts";
import { anomalyMap } from "../src/adp/patch/anomaly_map.ts";
import { resizeBilinear } from "../src/image/resize_bilinear.ts";
import type { View } from "../src/adp/patch/views.ts";
import { extractViews } from "../src/adp/patch/view_features.ts";
import { numpyChoice } from "../src/eval/numpy_choice.ts";
import { imageAuroc, pixelAuroc } from "../src/metrics/auroc.ts";
import {
  type AnomalyDataset,
  loadImage,
  loadMask,
  readMvtecDataset,
  sampleShots,
} from "../src/eval/datasets.ts";

const SHARED = fileURLToPath(new URL("../../shared/", import.meta.url));
/** The dev sets, by the names `--dataset` takes. */
export const DATASETS: Record<string, string> = {
  bottle: `${SHARED}datasets/mvtec-ad/bottle`,
  tile: `${SHARED}datasets/magnetic-tile/tile`,
  mono: `${SHARED}datasets/elpv/mono`,
  poly: `${SHARED}datasets/elpv/poly`,
};
const BACKBONE = `${SHARED}models/proxy/backbone.json`;
/** Pixel AUROC is measured at this resolution, as in the README. */
const EVAL_SIZE = 224;

/** The README's baseline figures (mean of seeds 0, 1, 2 with numpy's draws). */
const README: Record<string, { image: number[]; pixel: number[] }> = {
  bottle: { image: [0.993, 0.994, 0.995, 0.995, 0.996], pixel: [0.975, 0.977, 0.978, 0.978, 0.979] },
  tile: { image: [0.635, 0.703, 0.712, 0.744, 0.782], pixel: [0.623, 0.646, 0.663, 0.658, 0.685] },
};
const README_K = [1, 2, 4, 8, 16];

/** One configuration of the patch branch. */
export interface Variant {
  /** Network input side (square), or 0 to keep each frame's aspect ratio at `scale`. */
  size: number;
  /** Frame scale factor when `size` is 0. */
  scale?: number;
  layers: { name: string; weight?: number }[];
  gridStride: number;
  pool: number;
  /** Views of each shot added to the memory. */
  views: View[];
  imageScore: ImageScoreRule;
  /** Blur of the upsampled map, in pixels at EVAL_SIZE. */
  sigma: number;
  intensity: IntensityMode;
  /** Image score = the maximum of the blurred map (at EVAL_SIZE) instead of the patch rule. */
  mapScore?: boolean;
  /** Self-reference radius in grid cells; absent = off. */
  selfRadius?: number;
  /** Views of each test frame whose distance grids are averaged. */
  testViews?: View[];
  /** Experimental ranking (bench/_patch_rank.ts): mean distance of the k nearest memory patches. */
  knn?: number;
  /** Experimental ranking: memory distance divided by the memory's local density. */
  density?: boolean;
  /**
   * Image score = the largest excess of a cell's distance over that cell's mean leave-one-out
   * distance of the shots (K ≥ 2; the memory views must be the test views).
   */
  cellBaseline?: boolean | "shrunk";
  /**
   * Outer rings whose edge excess is measured from the shots as enrollment does (held-out
   * distances, `measureShotEdgeExcess`) and subtracted before the image score; 0 or absent: off.
   * The memory views must be the test views.
   */
  edgeRings?: number;
}

const BASELINE: Variant = {
  size: 224,
  layers: [{ name: "features_14" }, { name: "features_28" }],
  gridStride: 16,
  pool: 3,
  views: ["identity"],
  imageScore: { kind: "max" },
  sigma: 0,
  intensity: "raw",
};

const FLIPS: View[] = ["identity", "flipH", "flipV", "rot180"];

/** The configuration `PATCH_DEFAULTS` holds, documented in bench/PATCH_QUALITY.md. */
export const FINAL: Variant = {
  ...BASELINE,
  intensity: "auto",
  views: FLIPS,
  testViews: FLIPS,
  selfRadius: 2,
  edgeRings: PATCH_DEFAULTS.edgeRings,
  pool: PATCH_DEFAULTS.pool,
  sigma: PATCH_DEFAULTS.sigma,
};

const VARIANTS: Record<string, Variant> = {
  baseline: BASELINE,
  final: FINAL,
};

interface Result {
  k: number;
  image: number[];
  pixel: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: "string", default: "all" },
      k: { type: "string", default: "1,2,4,8,16" },
      seeds: { type: "string", default: "0,1,2" },
      variant: { type: "string", default: "baseline,final" },
      threads: { type: "string", default: "2" },
      draw: { type: "string", default: "ours" },
      "variant-json": { type: "string" },
      detail: { type: "boolean", default: false },
    },
  });
  const datasets = values.dataset === "all" ? Object.keys(DATASETS) : values.dataset!.split(",");
  const ks = values.k!.split(",").map(Number);
  const seeds = values.seeds!.split(",").map(Number);
  const threads = Number(values.threads);
  if (values.draw !== "ours" && values.draw !== "numpy") {
    throw new Error(`--draw is ours or numpy: got ${values.draw}`);
  }
  const draw = values.draw === "numpy" ? numpyShots : sampleShots;
  for (const name of datasets) {
    if (!DATASETS[name]) {
      throw new Error(`Unknown dataset ${name}: choose ${Object.keys(DATASETS).join(", ")}`);
    }
    const dataset = await readMvtecDataset(DATASETS[name]);
    const truth = await loadTruth(dataset);
    for (const variantName of values.variant!.split(",")) {
      const variant = values["variant-json"]
        ? { ...VARIANTS[variantName], ...JSON.parse(values["variant-json"]) }
        : VARIANTS[variantName];
      if (!variant) {
        throw new Error(`Unknown variant ${variantName}: choose ${Object.keys(VARIANTS).join(", ")}`);
      }
      const results = await evaluate(dataset, truth, variant, {
        ks,
        seeds,
        threads,
        draw,
        detail: values.detail!,
      });
      report(name, variantName, results);
    }
  }
}

/** Image labels, and pixel labels of every test image at EVAL_SIZE² (undefined: a set without masks). */
interface Truth {
  labels: Uint8Array;
  pixels: Uint8Array | undefined;
}

async function loadTruth(dataset: AnomalyDataset): Promise<Truth> {
  const per = EVAL_SIZE * EVAL_SIZE;
  const labels = Uint8Array.from(dataset.test, (s) => s.label);
  if (!dataset.test.some((s) => s.maskPath)) return { labels, pixels: undefined };
  const pixels = new Uint8Array(dataset.test.length * per);
  for (const [i, sample] of dataset.test.entries()) {
    if (!sample.maskPath) continue;
    const mask = await loadMask(sample, await imageSize(sample.path));
    const small = resizeBilinear(mask, { width: EVAL_SIZE, height: EVAL_SIZE });
    for (let p = 0; p < per; p++) pixels[i * per + p] = small.data[p] >= 128 ? 1 : 0;
  }
  return { labels, pixels };
}

async function imageSize(path: string): Promise<{ width: number; height: number }> {
  const { width, height } = await loadImage(path);
  return { width, height };
}

async function evaluate(
  dataset: AnomalyDataset,
  truth: Truth,
  variant: Variant,
  opts: { ks: number[]; seeds: number[]; threads: number; draw: typeof sampleShots; detail: boolean },
): Promise<Result[]> {
  const extractor = await openVariantExtractor(variant, opts.threads);
  try {
    const started = performance.now();
    const testViews = variant.testViews ?? ["identity"];
    const test = await extractAll(extractor, dataset.test.map((s) => s.path), testViews);
    const testMs = performance.now() - started;
    const maxK = Math.max(...opts.ks);
    const shotPaths = new Set(opts.seeds.flatMap((seed) => opts.draw(dataset.train, { k: maxK, seed })));
    const shotFeatures = new Map<string, PatchFeatures[]>();
    for (const path of shotPaths) shotFeatures.set(path, await extractAll(extractor, [path], variant.views));
    const results: Result[] = [];
    const per = EVAL_SIZE * EVAL_SIZE;
    const maps = new Float32Array(truth.pixels ? dataset.test.length * per : 0);
    let scoreMs = 0, mapMs = 0, scored = 0;
    for (const k of opts.ks) {
      const result: Result = { k, image: [], pixel: [] };
      for (const seed of opts.seeds) {
        const shots = opts.draw(dataset.train, { k, seed });
        const shotViews = shots.map((p) => shotFeatures.get(p)!);
        const edgeExcess = variant.edgeRings
          ? (await measureShots(shotViews, variant, testViews)).excess
          : [];
        const memory = await openMemory(shotViews, variant, opts.threads, edgeExcess);
        const t0 = performance.now();
        const scores = await memory.scoreViews(test, testViews);
        const t1 = performance.now();
        await memory.dispose();
        const imageScores = Float32Array.from(scores, (s) => s.imageScores[0]);
        if (variant.cellBaseline && k > 1) {
          const baseline = await leaveOneOutCells(shots.map((p) => shotFeatures.get(p)!), variant, testViews);
          scores.forEach((s, i) => {
            imageScores[i] = s.distances.reduce((m, d, c) => Math.max(m, d - baseline[c]), -Infinity);
          });
        }
        for (const [i, s] of scores.entries()) {
          if (!truth.pixels) continue;
          const map = anomalyMap(s.distances, {
            gridH: s.gridH,
            gridW: s.gridW,
            width: EVAL_SIZE,
            height: EVAL_SIZE,
            sigma: variant.sigma,
          });
          maps.set(map.data, i * per);
          if (variant.mapScore) imageScores[i] = map.data.reduce((a, b) => (b > a ? b : a), -Infinity);
        }
        mapMs += performance.now() - t1;
        scoreMs += t1 - t0;
        scored += test.length;
        result.image.push(imageAuroc(imageScores, truth.labels));
        result.pixel.push(truth.pixels ? pixelAuroc(maps, truth.pixels) : NaN);
        if (opts.detail) printDetail(dataset, truth, imageScores, maps, `K=${k} seed ${seed}`);
      }
      results.push(result);
    }
    console.log(
      `  extraction ${(testMs / dataset.test.length).toFixed(1)} ms/image (decode+resize+backbone+head), ` +
        `search ${(scoreMs / scored).toFixed(1)} ms/image (mean over K), map ${
          (mapMs / scored).toFixed(2)
        } ms/image`,
    );
    return results;
  } finally {
    await extractor.dispose();
  }
}

/** The proxy backbone's extractor as the variant configures it. */
export async function openVariantExtractor(variant: Variant, threads: number): Promise<FeatureExtractor> {
  const config = await loadBackboneConfig(BACKBONE);
  return await openOnnxExtractor({ ...config, outputs: variant.layers.map((l) => l.name) }, {
    ...(variant.size
      ? { inputSize: { width: variant.size, height: variant.size } }
      : { scale: variant.scale }),
    layers: variant.layers,
    gridStride: variant.gridStride,
    pool: variant.pool,
    intensity: variant.intensity,
    threads,
    device: "cpu",
  });
}

/** The product's memory, or the experimental one when the variant asks for a ranking experiment. */
export function openMemory(
  shots: PatchFeatures[][],
  variant: Variant,
  threads: number,
  edgeExcess: readonly number[],
): Promise<PatchMemory | RankMemory> {
  if (variant.knn || variant.density) {
    return RankMemory.create(shots, {
      knn: variant.knn ?? 1,
      density: variant.density ?? false,
      selfRadius: variant.selfRadius,
    });
  }
  return PatchMemory.create(shots.flat(), {
    imageScore: variant.imageScore,
    selfRadius: variant.selfRadius,
    edgeExcess,
    session: { threads, device: "cpu" },
  });
}

/**
 * What enrollment measures of these shots (each seen through the test views): their distances to
 * one another with each shot's edge offsets, and the edge excess (none when the variant has no rings).
 */
export async function measureShots(
  shots: PatchFeatures[][],
  variant: Variant,
  testViews: View[],
): Promise<{ excess: number[]; distances: HeldOutDistances }> {
  const distances = await heldOutDistances(shots.map(concatFeatures), shots.flat(), testViews, {
    selfRadius: variant.selfRadius ?? null,
    imageScore: variant.imageScore,
  });
  return variant.edgeRings
    ? measureShotEdgeExcess(distances, shots[0][0], variant.edgeRings)
    : { excess: [], distances };
}

/**
 * Per grid cell, the shots' mean distance to a memory of the other shots (each seen through the test
 * views), its spatial pattern shrunk by the mean correlation of the shots' grids (clamped to 0…1):
 * on parts that sit alike in every frame the pattern repeats and is kept, on free texture it is noise.
 */
async function leaveOneOutCells(
  shots: PatchFeatures[][],
  variant: Variant,
  testViews: View[],
): Promise<Float32Array> {
  const grids: Float32Array[] = [];
  for (const [s, own] of shots.entries()) {
    const memory = await PatchMemory.create(shots.filter((_, j) => j !== s).flat(), {
      selfRadius: variant.selfRadius,
      session: { threads: 1, device: "cpu" },
    });
    const [score] = await memory.scoreViews(own, testViews);
    await memory.dispose();
    grids.push(score.distances);
  }
  const cells = grids[0].length;
  const mean = new Float32Array(cells);
  for (const g of grids) for (let c = 0; c < cells; c++) mean[c] += g[c] / grids.length;
  let r = 0, pairs = 0;
  for (let a = 0; a < grids.length; a++) {
    for (let b = a + 1; b < grids.length; b++, pairs++) r += pearson(grids[a], grids[b]);
  }
  const shrink = variant.cellBaseline === "shrunk" ? Math.min(1, Math.max(0, r / pairs)) : 1;
  if (shrink < 1) console.log(`    cell baseline kept ×${shrink.toFixed(2)}`);
  const centre = mean.reduce((x, y) => x + y, 0) / cells;
  return mean.map((m) => centre + shrink * (m - centre));
}

function pearson(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const ma = a.reduce((x, y) => x + y, 0) / n, mb = b.reduce((x, y) => x + y, 0) / n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb || 1);
}

/** Image and pixel AUROC of each defect against the good test images. */
function printDetail(
  dataset: AnomalyDataset,
  truth: Truth,
  scores: Float32Array,
  maps: Float32Array,
  what: string,
): void {
  const per = EVAL_SIZE * EVAL_SIZE;
  const parts: string[] = [];
  for (const defect of dataset.defects) {
    const idx = dataset.test.flatMap((s, i) => (s.defect === defect || s.label === 0 ? [i] : []));
    const img = imageAuroc(idx.map((i) => scores[i]), idx.map((i) => truth.labels[i]));
    if (!truth.pixels) {
      parts.push(`${defect} ${img.toFixed(3)}`);
      continue;
    }
    const pixels = truth.pixels;
    const defectIdx = idx.filter((i) => truth.labels[i]);
    const m = new Float32Array(defectIdx.length * per), l = new Uint8Array(defectIdx.length * per);
    defectIdx.forEach((i, j) => {
      m.set(maps.subarray(i * per, (i + 1) * per), j * per);
      l.set(pixels.subarray(i * per, (i + 1) * per), j * per);
    });
    parts.push(`${defect} ${img.toFixed(3)}/${pixelAuroc(m, l).toFixed(3)}`);
  }
  console.log(`    ${what}: image/pixel-within-defect-images ${parts.join("  ")}`);
}

/** Features of every view of every image (frame-major), decoded a few at a time. */
export async function extractAll(
  extractor: FeatureExtractor,
  paths: string[],
  views: View[],
): Promise<PatchFeatures[]> {
  const parts: PatchFeatures[] = [];
  for (let i = 0; i < paths.length; i += 8) {
    const frames = await Promise.all(paths.slice(i, i + 8).map((path) => loadImage(path)));
    parts.push(...await extractViews(extractor, frames, views));
  }
  return parts;
}

/** The shots numpy's `RandomState(seed).choice(n, k, replace=False)` draws, for comparing with the README. */
function numpyShots(train: readonly string[], opts: { k: number; seed: number }): string[] {
  return numpyChoice(train.length, opts).map((i) => train[i]);
}

function report(dataset: string, variant: string, results: Result[]): void {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`${dataset} / ${variant}`);
  console.log("  K    image    (README)  pixel    (README)  per seed: image | pixel");
  for (const r of results) {
    const j = README_K.indexOf(r.k);
    const ref = README[dataset];
    const show = (v: number | undefined) => (v === undefined ? "  –  " : v.toFixed(3));
    // A set without masks (ELPV) has no pixel AUROC: shown as a dash, not NaN.
    const fixed = (v: number) => (Number.isNaN(v) ? "  –   " : v.toFixed(4));
    const seeds = (xs: number[]) => xs.map(fixed).join(" ");
    console.log(
      `  ${String(r.k).padEnd(4)} ${fixed(mean(r.image))}   ${show(ref?.image[j])}    ` +
        `${fixed(mean(r.pixel))}   ${show(ref?.pixel[j])}    ${seeds(r.image)} | ${seeds(r.pixel)}`,
    );
  }
}

if (import.meta.main) await main();
