/**
 * The evaluation runner: the K-shot protocol over categories, shot counts and seeds, every run saved
 * as it finishes (and reused by `resume`), then the summary, its tables as JSON and Markdown, ROC
 * curves and score histograms as SVG and a sheet of anomaly maps as PNG under the output folder.
 *
 * Per category the expensive things that do not depend on the shots — the pixel ground truth, the
 * test images' CLIP features for the ablations, the baseline's test patch features — are computed
 * once, when the first run that needs them starts, so a fully resumed evaluation loads no model.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import type { Rgb8Image } from "../clip/image_decode.ts";
import { openCheckpoint } from "../clip/checkpoint.ts";
import { type ClipModel, loadClip } from "../model/clip_model.ts";
import type { Device } from "../onnx/runtime.ts";
import { imageEmbeddings, VISION_BATCH } from "../adp/vision_pass.ts";
import { anomalyMap } from "../adp/anomaly_map.ts";
import { type FeatureExtractor, loadBackboneConfig } from "../adp/backbone.ts";
import type { PatchFeatures } from "../adp/patch_features.ts";
import type { FusionSpec } from "../adp/profile.ts";
import { loadPixelTruth, type PixelTruth } from "./_ground_truth.ts";
import { runAdp } from "./_adp_run.ts";
import type { CalibrationInputs } from "../adp/enroll.ts";
import { extractFiles, openPlainExtractor, plainPatchScores } from "./_plain_patch.ts";
import { imageAuroc } from "./auroc.ts";
import { verdictMetrics } from "./calibration_gap.ts";
import { pixelMetrics } from "./pixel_metrics.ts";
import { type AnomalyDataset, loadImage, readDataset, type TestSample } from "./datasets.ts";
import { f1Max } from "./f1_max.ts";
import { renderHistogramSvg } from "./histogram_svg.ts";
import { renderMapSheet, type SheetTile } from "./map_sheet.ts";
import {
  checkSettings,
  drawShots,
  type EvalSettings,
  limitTest,
  type MapSource,
  needsEnrollment,
  PROTOCOL_VERSION,
  type RunIdentity,
  type Variant,
  VARIANT_INFO,
} from "./protocol.ts";
import { renderTables, reportTables } from "./report_text.ts";
import { rocCurve } from "./roc_curve.ts";
import { renderRocSvg } from "./roc_svg.ts";
import { loadRun, type RunMetrics, runPath, type RunRecord, saveRun, writeAtomic } from "./run_store.ts";
import { type EvalSummary, summarize } from "./summary.ts";

/** Test images shown on a category's map sheet at most (evenly spaced, so every defect kind appears). */
const SHEET_TILES = 48;

/** What the runner reports while it works. */
export type EvalEvent =
  | {
    kind: "progress";
    /** The run in progress, e.g. `bottle K=4 seed 1`. */
    label: string;
    /** What it is doing. */
    stage: string;
    /** Share of the whole evaluation's pending work done. */
    fraction: number;
    etaSeconds: number | null;
  }
  | {
    kind: "run";
    category: string;
    k: number;
    seed: number;
    record: RunRecord;
    resumed: boolean;
    /** Runs finished or resumed so far, and in all. */
    done: number;
    total: number;
    etaSeconds: number | null;
  }
  | { kind: "note"; message: string };

/** Options of {@linkcode runEvaluation}. */
export interface EvalOptions {
  /** The output folder: runs/, results.json, results.md, plots/. */
  out: string;
  /** Reuse runs already saved under `out` with the same settings. @default false */
  resume?: boolean;
  /** @default "cpu" */
  device?: Device;
  /** onnxruntime CPU threads. @default {all cores} */
  threads?: number;
  /** The graph cache of the CLIP model. @default {the model loader's} */
  cacheDir?: string;
  onEvent?: (event: EvalEvent) => void;
}

/** The JSON document an evaluation writes (and `adp eval --json` prints). */
export interface EvalDocument {
  format: "adp-eval/1";
  settings: EvalSettings;
  /** The variant whose figures sit at the top level of every entry. */
  primaryVariant: Variant;
  /** What each metric is. */
  metrics: Record<string, string>;
  /** category → K → the primary variant's means over seeds, with `std`, `perSeed` and every `variants`' figures. */
  categories: EvalSummary["categories"];
  /** K → means over categories (each seed's category mean, then mean ± std over seeds). */
  overall: EvalSummary["overall"];
  runs: { total: number; executed: number; resumed: number };
  durationSeconds: number;
  files: { json: string; markdown: string; runs: string; plots: string[] };
}

/** What {@linkcode runEvaluation} returns. */
export interface EvalResult {
  document: EvalDocument;
  summary: EvalSummary;
  /** The tables as aligned text. */
  text: string;
  /** The full report as Markdown. */
  markdown: string;
}

const METRIC_NOTES: Record<string, string> = {
  imageAuroc: "image-level AUROC over the test images, ties counted one half",
  pixelAuroc: "pixel-level AUROC over every test pixel at the evaluation resolution (settings.pixelSize)",
  aupro: "normalised area under the per-region-overlap curve up to FPR 0.3 (MVTec AD), 8-connected regions",
  imageF1Max: "best F1 over all thresholds on image scores",
  pixelF1Max: "best F1 over all thresholds on pixels",
  falseRejectRate: "good test images called anomalous at the profile's calibrated threshold (fused only)",
  missRate: "defective test images called normal at the profile's calibrated threshold (fused only)",
  balancedError: "(false-reject rate + miss rate) / 2 at the calibrated threshold (fused only)",
  oracleBalancedError: "the smallest balanced error any threshold reaches on the test scores (fused only)",
  calibrationGap: "balanced error at the calibrated threshold minus the oracle's (fused only)",
  textWeight: "the profile's weight of the text branch in the fused score (fused only)",
};

/**
 * Runs an evaluation.
 *
 * @param settings what to measure
 * @param opts where to write, whether to resume, devices and a progress callback
 * @returns the JSON document, the summary and the rendered tables
 * @throws {ConfigError} for invalid settings, a malformed dataset, or saved runs made otherwise
 */
export async function runEvaluation(settings: EvalSettings, opts: EvalOptions): Promise<EvalResult> {
  checkSettings(settings);
  const started = performance.now();
  const emit = opts.onEvent ?? (() => {});
  const out = resolve(opts.out);
  const datasets: { dataset: AnomalyDataset; test: TestSample[] }[] = [];
  for (const category of settings.categories) {
    const dataset = await readDataset(settings.data, category);
    datasets.push({ dataset, test: limitTest(dataset.test, settings.limit) });
  }
  const enrolling = settings.variants.some(needsEnrollment);
  const usesClip = enrolling || !settings.backbone;
  const modelHash = usesClip ? await weightsHash(settings.model!, opts.cacheDir) : null;
  const backboneHash = settings.backbone
    ? await fileHash((await loadBackboneConfig(settings.backbone)).onnx)
    : null;

  // Every run, planned, with what is already saved.
  type Planned = {
    category: string;
    index: number;
    k: number;
    seed: number;
    identity: RunIdentity;
    saved?: RunRecord;
  };
  const plan: Planned[] = [];
  for (const [index, { dataset, test }] of datasets.entries()) {
    const identity: RunIdentity = {
      protocol: PROTOCOL_VERSION,
      data: resolve(settings.data),
      category: dataset.category,
      variants: settings.variants,
      draw: settings.draw,
      pixelSize: settings.pixelSize,
      steps: settings.steps ?? null,
      labelPrompts: settings.labelPrompts,
      limit: settings.limit ?? null,
      model: modelHash,
      backbone: backboneHash,
      test: test.map((s) => relative(dataset.root, s.path)),
    };
    for (const k of settings.shots) {
      for (const seed of settings.seeds) {
        const saved = opts.resume
          ? await loadRun(runPath(out, dataset.category, k, seed), identity)
          : undefined;
        plan.push({ category: dataset.category, index, k, seed, identity, saved });
      }
    }
  }
  const pending = plan.filter((p) => !p.saved).length;

  let clip: ClipModel | undefined;
  let plainExtractor: FeatureExtractor | undefined;
  const records: { category: string; record: RunRecord }[] = [];
  let executed = 0, done = 0;
  const runStarted = performance.now();
  const eta = (fractionDone: number) =>
    fractionDone > 0.01
      ? ((performance.now() - runStarted) / 1000) * ((pending - fractionDone) / fractionDone)
      : null;

  try {
    let category: CategoryState | undefined;
    for (const run of plan) {
      if (run.saved) {
        records.push({ category: run.category, record: run.saved });
        emit({
          kind: "run",
          category: run.category,
          k: run.k,
          seed: run.seed,
          record: run.saved,
          resumed: true,
          done: ++done,
          total: plan.length,
          etaSeconds: eta(executed),
        });
        continue;
      }
      const { dataset, test } = datasets[run.index];
      if (category?.dataset !== dataset) category = new CategoryState(dataset, test, settings);
      const label = `${run.category} K=${run.k} seed ${run.seed}`;
      const progress = (f: number, stage: string) =>
        emit({
          kind: "progress",
          label,
          stage,
          fraction: (executed + f) / pending,
          etaSeconds: eta(executed + f),
        });
      if (usesClip && !clip) {
        progress(0, "loading CLIP");
        clip = await loadClip(settings.model!, {
          device: opts.device ?? "cpu",
          threads: opts.threads,
          cacheDir: opts.cacheDir,
          log: (message) => emit({ kind: "note", message }),
        });
      }
      if (settings.variants.includes("plain-patch") && !plainExtractor) {
        plainExtractor = await openPlainExtractor({
          backbone: settings.backbone,
          clip,
          threads: opts.threads,
        });
      }
      const t0 = performance.now();
      const isSheetRun = run.k === Math.max(...settings.shots) && run.seed === settings.seeds[0];
      const record = await measureRun(category, {
        k: run.k,
        seed: run.seed,
        identity: run.identity,
        clip,
        plainExtractor,
        threads: opts.threads,
        progress,
        sheet: isSheetRun ? join(out, "plots", `${run.category}-maps.png`) : undefined,
        dump: Deno.env.get("ADP_EVAL_DUMP_CALIBRATION") === "1"
          ? join(out, "calibration", run.category, `k${run.k}-seed${run.seed}`)
          : undefined,
      });
      record.durationMs = Math.round(performance.now() - t0);
      await saveRun(runPath(out, run.category, run.k, run.seed), record);
      records.push({ category: run.category, record });
      executed++;
      emit({
        kind: "run",
        category: run.category,
        k: run.k,
        seed: run.seed,
        record,
        resumed: false,
        done: ++done,
        total: plan.length,
        etaSeconds: eta(executed),
      });
    }
  } finally {
    await plainExtractor?.dispose();
    await clip?.dispose();
  }

  const summary = summarize(records, {
    categories: datasets.map((d) => d.dataset.category),
    shots: settings.shots,
    seeds: settings.seeds,
    variants: settings.variants,
  });
  const plots = await writePlots(out, records, settings);
  for (const { dataset } of datasets) {
    const sheet = join(out, "plots", `${dataset.category}-maps.png`);
    if (!plots.includes(sheet) && await exists(sheet)) plots.push(sheet);
  }
  const text = renderTables(reportTables(summary), "text");
  const files = {
    json: join(out, "results.json"),
    markdown: join(out, "results.md"),
    runs: join(out, "runs"),
    plots: plots.sort(),
  };
  const document: EvalDocument = {
    format: "adp-eval/1",
    settings,
    primaryVariant: settings.variants[0],
    metrics: METRIC_NOTES,
    categories: summary.categories,
    overall: summary.overall,
    runs: { total: plan.length, executed, resumed: plan.length - executed },
    durationSeconds: Math.round((performance.now() - started) / 100) / 10,
    files,
  };
  const markdown = renderMarkdown(document, summary);
  await Deno.mkdir(out, { recursive: true });
  await writeAtomic(files.json, JSON.stringify(document, null, 2) + "\n");
  await writeAtomic(files.markdown, markdown);
  return { document, summary, text, markdown };
}

/** One category's test set and the things computed once for all its runs. */
class CategoryState {
  readonly dataset: AnomalyDataset;
  readonly test: TestSample[];
  readonly labels: Uint8Array;
  /** Whether every defective test image has a mask: pixel metrics are absent otherwise (ELPV). */
  readonly masked: boolean;
  readonly settings: EvalSettings;
  #truth?: Promise<PixelTruth>;
  #embeddings?: Promise<Float64Array>;
  #plainTest?: Promise<PatchFeatures[]>;
  readonly #plainShots = new Map<string, PatchFeatures>();
  #maps = new Map<Exclude<MapSource, null>, Float32Array>();

  constructor(dataset: AnomalyDataset, test: TestSample[], settings: EvalSettings) {
    this.dataset = dataset;
    this.test = test;
    this.settings = settings;
    this.labels = Uint8Array.from(test, (s) => s.label);
    this.masked = test.every((s) => !s.label || s.maskPath !== undefined);
  }

  truth(): Promise<PixelTruth> {
    return this.#truth ??= loadPixelTruth(this.test, this.settings.pixelSize);
  }

  /** A reusable buffer for one map source's maps at the evaluation resolution. */
  async maps(source: Exclude<MapSource, null>): Promise<Float32Array> {
    const truth = await this.truth();
    let buffer = this.#maps.get(source);
    if (!buffer) this.#maps.set(source, buffer = new Float32Array(truth.pixels.length));
    return buffer;
  }

  embeddings(clip: ClipModel): Promise<Float64Array> {
    return this.#embeddings ??= (async () => {
      const e = clip.config.embedDim;
      const out = new Float64Array(this.test.length * e);
      for (let start = 0; start < this.test.length; start += VISION_BATCH) {
        const images: Rgb8Image[] = [];
        for (const s of this.test.slice(start, start + VISION_BATCH)) images.push(await loadImage(s.path));
        out.set(await imageEmbeddings(clip, images), start * e);
      }
      return out;
    })();
  }

  plainTest(extractor: FeatureExtractor, onProgress: (f: number) => void): Promise<PatchFeatures[]> {
    return this.#plainTest ??= extractFiles(
      extractor,
      this.test.map((s) => s.path),
      (n) => onProgress(n / this.test.length),
    );
  }

  async plainShots(extractor: FeatureExtractor, shots: readonly string[]): Promise<PatchFeatures[]> {
    const missing = shots.filter((p) => !this.#plainShots.has(p));
    if (missing.length) {
      (await extractFiles(extractor, missing)).forEach((f, i) => this.#plainShots.set(missing[i], f));
    }
    return shots.map((p) => this.#plainShots.get(p)!);
  }
}

/** Measures one (category, K, seed) run of every variant. */
async function measureRun(
  category: CategoryState,
  run: {
    k: number;
    seed: number;
    identity: RunIdentity;
    clip?: ClipModel;
    plainExtractor?: FeatureExtractor;
    threads?: number;
    progress: (fraction: number, stage: string) => void;
    sheet?: string;
    /** Where to write the run's calibration inputs (ADP_EVAL_DUMP_CALIBRATION=1). */
    dump?: string;
  },
): Promise<RunRecord> {
  const { settings, test, labels, dataset } = category;
  const variants = settings.variants;
  const shots = drawShots(dataset.train, { k: run.k, seed: run.seed, draw: settings.draw });
  const wantsMap = (source: MapSource) => variants.some((v) => VARIANT_INFO[v].map === source);
  const truth = wantsMap("profile") || wantsMap("plain") ? await category.truth() : undefined;
  const scores: Partial<Record<Variant, Float64Array>> = {};
  const maps: Partial<Record<Exclude<MapSource, null>, Float32Array>> = {};
  let threshold: number | null = null;
  let fusion: FusionSpec | null = null;
  let calibrationInputs: CalibrationInputs | undefined;
  const adpVariants = variants.filter(needsEnrollment);
  const plainShare = variants.includes("plain-patch") ? (adpVariants.length ? 0.2 : 0.85) : 0;
  const adpShare = adpVariants.length ? 0.85 - plainShare : 0;

  if (adpVariants.length) {
    const clip = run.clip!;
    const profileMaps = wantsMap("profile") ? await category.maps("profile") : undefined;
    const result = await runAdp({
      clip,
      shots,
      seed: run.seed,
      label: settings.labelPrompts ? dataset.category : undefined,
      steps: settings.steps,
      backbone: settings.backbone,
      test,
      variants: adpVariants,
      truth,
      maps: profileMaps,
      testEmbeddings: () => category.embeddings(clip),
      onProgress: (f, stage) => run.progress(adpShare * f, stage),
    });
    Object.assign(scores, result.scores);
    if (profileMaps) maps.profile = profileMaps;
    calibrationInputs = result.calibrationInputs;
    threshold = result.threshold;
    fusion = result.profile.meta.fusion;
  }
  if (variants.includes("plain-patch")) {
    const extractor = run.plainExtractor!;
    const testFeatures = await category.plainTest(
      extractor,
      (f) => run.progress(adpShare + 0.8 * plainShare * f, "plain patch matching: test features"),
    );
    run.progress(adpShare + 0.8 * plainShare, "plain patch matching");
    const shotFeatures = await category.plainShots(extractor, shots);
    const patch = await plainPatchScores(shotFeatures, testFeatures, { threads: run.threads });
    scores["plain-patch"] = Float64Array.from(patch, (p) => p.imageScores[0]);
    const buffer = await category.maps("plain");
    patch.forEach((p, i) => {
      const size = truth!.sizes[i];
      const map = anomalyMap(p.distances, { gridH: p.gridH, gridW: p.gridW, ...size, sigma: 0 });
      buffer.set(map.data, truth!.offsets[i]);
    });
    maps.plain = buffer;
  }

  run.progress(0.85, "metrics");
  const pixelCache = new Map<string, Pick<RunMetrics, "pixelAuroc" | "aupro" | "pixelF1Max">>();
  const record: RunRecord = {
    format: "adp-eval-run/1",
    identity: run.identity,
    k: run.k,
    seed: run.seed,
    shots: shots.map((p) => relative(dataset.root, p)),
    labels: [...labels],
    threshold,
    fusion,
    variants: {},
    durationMs: 0,
    finishedAt: "",
  };
  for (const v of variants) {
    const s = scores[v]!;
    const source = VARIANT_INFO[v].map;
    let pixel: Pick<RunMetrics, "pixelAuroc" | "aupro" | "pixelF1Max"> = {
      pixelAuroc: null,
      aupro: null,
      pixelF1Max: null,
    };
    if (source && truth && category.masked && truth.pixels.includes(1)) {
      const m = maps[source]!;
      pixel = pixelCache.get(source) ?? pixelMetrics(m, truth.pixels, { sizes: truth.sizes });
      pixelCache.set(source, pixel);
    }
    const rates = v === "fused" && threshold !== null
      ? { ...verdictMetrics(s, labels, threshold), textWeight: fusion?.textWeight ?? null }
      : { falseRejectRate: null, missRate: null };
    record.variants[v] = {
      metrics: { imageAuroc: imageAuroc(s, labels), imageF1Max: f1Max(s, labels), ...pixel, ...rates },
      scores: [...s],
    };
  }
  if (run.sheet) {
    const source = variants.map((v) => VARIANT_INFO[v].map).find((m) => m !== null);
    if (source && truth && maps[source]) {
      run.progress(0.95, "map sheet");
      await Deno.mkdir(join(run.sheet, ".."), { recursive: true });
      await writeAtomic(run.sheet, await mapSheet(test, truth, maps[source]!));
    }
  }
  record.finishedAt = new Date().toISOString();
  if (run.dump && calibrationInputs) await dumpCalibration(run.dump, calibrationInputs, record);
  return record;
}

/**
 * Writes a run's calibration inputs beside its test scores, for working on calibration offline:
 * `<path>.json` (branch scores of held-out normals, pseudo-anomalies and test images, labels, the
 * distances' shape) and `<path>.bin` (the distances' `cross` then `self`, float32).
 */
async function dumpCalibration(path: string, c: CalibrationInputs, record: RunRecord): Promise<void> {
  const { cross, self, ...shape } = c.distances;
  await Deno.mkdir(join(path, ".."), { recursive: true });
  const doc = {
    k: record.k,
    seed: record.seed,
    labels: record.labels,
    normals: c.normals,
    pseudoAnomalies: c.pseudoAnomalies,
    distances: { ...shape, hasSelf: self !== null },
    test: Object.fromEntries(Object.entries(record.variants).map(([v, r]) => [v, r!.scores])),
    fusion: record.fusion,
    threshold: record.threshold,
  };
  await writeAtomic(`${path}.json`, JSON.stringify(doc) + "\n");
  const bin = new Float32Array(cross.length + (self?.length ?? 0));
  bin.set(cross);
  if (self) bin.set(self, cross.length);
  await Deno.writeFile(`${path}.bin`, new Uint8Array(bin.buffer));
}

/** The map sheet of up to SHEET_TILES evenly spaced test images. */
async function mapSheet(
  test: readonly TestSample[],
  truth: PixelTruth,
  maps: Float32Array,
): Promise<Uint8Array> {
  const count = Math.min(SHEET_TILES, test.length);
  const picks = [
    ...new Set(
      Array.from({ length: count }, (_, i) => Math.round((i * (test.length - 1)) / Math.max(1, count - 1))),
    ),
  ];
  const tiles: SheetTile[] = [];
  for (const i of picks) {
    const size = truth.sizes[i], at = truth.offsets[i], n = size.width * size.height;
    tiles.push({
      image: await loadImage(test[i].path),
      map: maps.subarray(at, at + n),
      mapSize: size,
      mask: test[i].label ? truth.pixels.subarray(at, at + n) : undefined,
      label: test[i].label,
    });
  }
  return await renderMapSheet(tiles);
}

/** ROC curves and histograms per category (primary variant, first seed, one curve or panel per K). */
async function writePlots(
  out: string,
  records: readonly { category: string; record: RunRecord }[],
  settings: EvalSettings,
): Promise<string[]> {
  const dir = join(out, "plots");
  await Deno.mkdir(dir, { recursive: true });
  const primary = settings.variants[0];
  const seed = settings.seeds[0];
  const written: string[] = [];
  for (const category of new Set(records.map((r) => r.category))) {
    const runs = settings.shots.map((k) =>
      records.find((r) => r.category === category && r.record.k === k && r.record.seed === seed)!.record
    );
    const title = `${category}: ${VARIANT_INFO[primary].title}, seed ${seed}`;
    const series = runs.map((r) => {
      const s = r.variants[primary]!;
      const roc = rocCurve(s.scores, r.labels);
      return { label: `K=${r.k}  AUROC ${s.metrics.imageAuroc.toFixed(3)}`, fpr: roc.fpr, tpr: roc.tpr };
    });
    const roc = join(dir, `${category}-roc.svg`);
    await writeAtomic(roc, renderRocSvg(series, { title: `ROC, ${title}` }));
    const panels = runs.map((r) => {
      const s = r.variants[primary]!.scores;
      return {
        label: `K=${r.k}`,
        good: s.filter((_, i) => !r.labels[i]),
        defective: s.filter((_, i) => r.labels[i]),
        threshold: primary === "fused" && r.threshold !== null ? r.threshold : undefined,
      };
    });
    const hist = join(dir, `${category}-scores.svg`);
    await writeAtomic(hist, renderHistogramSvg(panels, { title: `Image scores, ${title}` }));
    written.push(roc, hist);
  }
  return written;
}

function renderMarkdown(doc: EvalDocument, summary: EvalSummary): string {
  const s = doc.settings;
  const rel = (p: string) => relative(join(doc.files.markdown, ".."), p);
  const lines = [
    `# ADP evaluation`,
    "",
    `- data: \`${s.data}\`, categories ${s.categories.join(", ")}`,
    `- K = ${s.shots.join(", ")}; seeds ${s.seeds.join(", ")} (shots drawn by ${
      s.draw === "numpy" ? "numpy's RandomState(seed).choice" : "sampleShots"
    })${s.limit ? `; ${s.limit} test images per category` : ""}`,
    `- variants (the first is the headline and the plots'):`,
    ...s.variants.map((v) => `  - \`${v}\`: ${VARIANT_INFO[v].description}`),
    `- model: ${s.model ? `\`${s.model}\`` : "none"}; patch backbone: ${
      s.backbone ? `\`${s.backbone}\`` : "CLIP tokens"
    }${s.steps ? `; ${s.steps} steps per concept` : ""}${s.labelPrompts ? "; label prompts (ADP_ℓ)" : ""}`,
    `- pixel metrics at ${s.pixelSize === "mask" ? "each mask's own size" : `${s.pixelSize}×${s.pixelSize}`}`,
    `- runs: ${doc.runs.total} (${doc.runs.executed} measured now, ${doc.runs.resumed} resumed), ${doc.durationSeconds} s`,
    "",
    renderTables(reportTables(summary, { detailed: true }), "markdown"),
    "## Plots",
    "",
    ...doc.files.plots.map((p) => `![${rel(p)}](${rel(p)})`),
    "",
  ];
  return lines.join("\n");
}

async function weightsHash(dir: string, cacheDir?: string): Promise<string> {
  using checkpoint = await openCheckpoint(dir);
  return await checkpoint.hash(cacheDir);
}

async function fileHash(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
