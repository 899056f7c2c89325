/**
 * One (category, K, seed) run of every variant: the shots drawn, ADP enrolled and scored and the
 * plain patch baseline matched as the variants ask, then every metric, and the map sheet when the
 * run is the one that draws it.
 *
 * @module
 */
import { join, relative } from "node:path";
import type { ClipModel } from "../model/mod.ts";
import type { CalibrationInputs, FusionSpec } from "../adp/mod.ts";
import { anomalyMap, type FeatureExtractor } from "../adp/patch/mod.ts";
import { f1Max, imageAuroc, pixelMetrics } from "../metrics/mod.ts";
import type { CategoryState } from "./_category_state.ts";
import type { PixelTruth } from "./_ground_truth.ts";
import { runAdp } from "./_adp_run.ts";
import { type FeedbackOutcome, replayWithFeedback } from "./_feedback_replay.ts";
import { plainPatchScores } from "./_plain_patch.ts";
import { verdictMetrics } from "./calibration_gap.ts";
import { loadImage, type TestSample } from "./datasets.ts";
import { renderMapSheet, type SheetTile } from "./map_sheet.ts";
import {
  drawShots,
  type MapSource,
  needsEnrollment,
  type RunIdentity,
  type Variant,
  VARIANT_INFO,
} from "./protocol.ts";
import { type RunMetrics, type RunRecord, writeAtomic } from "./run_store.ts";

/** Test images shown on a category's map sheet at most (evenly spaced, so every defect kind appears). */
const SHEET_TILES = 48;

/** What {@linkcode measureRun} is asked to measure, with the models it needs. */
export interface RunRequest {
  /** The shot count. */
  k: number;
  /** The seed of the shot draw. */
  seed: number;
  /** The settings the record is saved under. */
  identity: RunIdentity;
  /** CLIP, when a variant enrolls. */
  clip?: ClipModel;
  /** The baseline's feature extractor, when `plain-patch` is scored. */
  plainExtractor?: FeatureExtractor;
  /** onnxruntime CPU threads. */
  threads?: number;
  /** Receives the share of the run done and what it is doing. */
  progress: (fraction: number, stage: string) => void;
  /** Where to write the map sheet, when this run draws it. */
  sheet?: string;
  /** Where to write the run's calibration inputs (ADP_EVAL_DUMP_CALIBRATION=1). */
  dump?: string;
}

/** Scores and maps per variant, as the branches of a run fill them in. */
interface _Measured {
  scores: Partial<Record<Variant, Float64Array>>;
  maps: Partial<Record<Exclude<MapSource, null>, Float32Array>>;
}

/** Measures one (category, K, seed) run of every variant. */
export async function measureRun(category: CategoryState, run: RunRequest): Promise<RunRecord> {
  const { settings, labels, dataset } = category;
  const variants = settings.variants;
  const shots = drawShots(dataset.train, { k: run.k, seed: run.seed, draw: settings.draw });
  const wantsMap = (source: MapSource) => variants.some((v) => VARIANT_INFO[v].map === source);
  const truth = wantsMap("profile") || wantsMap("plain") ? await category.truth() : undefined;
  const scores: Partial<Record<Variant, Float64Array>> = {};
  const maps: Partial<Record<Exclude<MapSource, null>, Float32Array>> = {};
  let calibrationInputs: CalibrationInputs | undefined;
  let threshold: number | null = null;
  let fusion: FusionSpec | null = null;
  let feedback: FeedbackOutcome[] | undefined;
  const adpVariants = variants.filter(needsEnrollment);
  const plainShare = variants.includes("plain-patch") ? (adpVariants.length ? 0.2 : 0.85) : 0;
  const adpShare = adpVariants.length ? 0.85 - plainShare : 0;

  if (adpVariants.length) {
    const drawn = { shots, truth, adpVariants, adpShare };
    ({ calibrationInputs, threshold, fusion, feedback } = await _measureAdp(category, run, drawn, {
      scores,
      maps,
    }));
  }
  if (variants.includes("plain-patch")) {
    await _measurePlainPatch(category, run, { shots, truth, adpShare, plainShare }, { scores, maps });
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
    ...(feedback ? { feedback } : {}),
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
  if (run.sheet) await _writeSheet(category, run, truth, maps);
  if (run.dump && calibrationInputs) await dumpCalibration(run.dump, calibrationInputs, record);
  record.finishedAt = new Date().toISOString();
  return record;
}

/** The ADP variants' scores (and the profile's maps): one enrollment from the shots, then the test set. */
async function _measureAdp(
  category: CategoryState,
  run: RunRequest,
  drawn: { shots: string[]; truth: PixelTruth | undefined; adpVariants: Variant[]; adpShare: number },
  { scores, maps }: _Measured,
): Promise<{
  calibrationInputs?: CalibrationInputs;
  threshold: number | null;
  fusion: FusionSpec | null;
  feedback?: FeedbackOutcome[];
}> {
  const { settings, test, dataset } = category;
  const { shots, truth, adpVariants, adpShare } = drawn;
  const wantsMap = (source: MapSource) => settings.variants.some((v) => VARIANT_INFO[v].map === source);
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
  let feedback: FeedbackOutcome[] | undefined;
  if (settings.feedback?.length) {
    run.progress(adpShare, "replaying the test set with operator feedback");
    feedback = await replayWithFeedback({
      clip,
      profile: result.profile,
      test,
      labels: category.labels,
      scores: result.fused,
      seed: run.seed,
      budgets: settings.feedback,
    });
  }
  return {
    calibrationInputs: result.calibrationInputs,
    threshold: result.threshold,
    fusion: result.profile.meta.fusion,
    feedback,
  };
}

/** The plain patch baseline's scores and maps: nearest normal patch per test patch. */
async function _measurePlainPatch(
  category: CategoryState,
  run: RunRequest,
  drawn: { shots: string[]; truth: PixelTruth | undefined; adpShare: number; plainShare: number },
  { scores, maps }: _Measured,
): Promise<void> {
  const { shots, truth, adpShare, plainShare } = drawn;
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

/** The map sheet of the first variant that draws maps. */
async function _writeSheet(
  { settings: { variants }, test }: CategoryState,
  run: RunRequest,
  truth: PixelTruth | undefined,
  maps: _Measured["maps"],
): Promise<void> {
  const source = variants.map((v) => VARIANT_INFO[v].map).find((m) => m !== null);
  if (source && truth && maps[source]) {
    run.progress(0.95, "map sheet");
    await Deno.mkdir(join(run.sheet!, ".."), { recursive: true });
    await writeAtomic(run.sheet!, await mapSheet(test, truth, maps[source]!));
  }
}

/**
 * Writes a run's calibration inputs beside its test scores, for working on calibration offline:
 * `<path>.json` (branch scores of held-out normals, pseudo-anomalies and test images, labels, the
 * distances' shape) and `<path>.bin` (the distances' `cross`, `self` and `edgeOffsets`, float32).
 */
async function dumpCalibration(path: string, c: CalibrationInputs, record: RunRecord): Promise<void> {
  const { cross, self, edgeOffsets, ...shape } = c.distances;
  await Deno.mkdir(join(path, ".."), { recursive: true });
  const doc = {
    k: record.k,
    seed: record.seed,
    labels: record.labels,
    normals: c.normals,
    pseudoAnomalies: c.pseudoAnomalies,
    distances: { ...shape, hasSelf: self !== null, hasEdgeOffsets: edgeOffsets !== undefined },
    test: Object.fromEntries(Object.entries(record.variants).map(([v, r]) => [v, r!.scores])),
    fusion: record.fusion,
    threshold: record.threshold,
  };
  await writeAtomic(`${path}.json`, JSON.stringify(doc) + "\n");
  const bin = new Float32Array(cross.length + (self?.length ?? 0) + (edgeOffsets?.length ?? 0));
  bin.set(cross);
  if (self) bin.set(self, cross.length);
  if (edgeOffsets) bin.set(edgeOffsets, cross.length + (self?.length ?? 0));
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
