/**
 * The evaluation runner: the K-shot protocol over categories, shot counts and seeds, every run saved
 * as it finishes (and reused by `resume`), then the summary, its tables as JSON and Markdown, ROC
 * curves and score histograms as SVG and a sheet of anomaly maps as PNG under the output folder.
 *
 * Per category the expensive things that do not depend on the shots — the pixel ground truth, the
 * test images' CLIP features for the ablations, the baseline's test patch features — are computed
 * once, when the first run that needs them starts, so a fully resumed evaluation loads no model
 * (`_category_state.ts`). One run of every variant is measured in `_measure_run.ts`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import { openCheckpoint } from "../clip/mod.ts";
import { type ClipModel, loadClip } from "../model/mod.ts";
import type { Device } from "../onnx/mod.ts";
import { type FeatureExtractor, loadBackboneConfig } from "../adp/patch/mod.ts";
import { rocCurve } from "../metrics/mod.ts";
import { CategoryState } from "./_category_state.ts";
import { measureRun } from "./_measure_run.ts";
import { type FeedbackSummaryRow, feedbackTable, summarizeFeedback } from "./_feedback_replay.ts";
import { openPlainExtractor } from "./_plain_patch.ts";
import { type AnomalyDataset, readDataset, type TestSample } from "./datasets.ts";
import { renderHistogramSvg } from "./histogram_svg.ts";
import {
  checkSettings,
  type EvalSettings,
  limitTest,
  needsEnrollment,
  PROTOCOL_VERSION,
  type RunIdentity,
  type Variant,
  VARIANT_INFO,
} from "./protocol.ts";
import { renderTables, reportTables, samplingBoundTable, type Table } from "./report_text.ts";
import { type BoundRun, type CategoryBound, categoryBounds } from "./calibration_bound.ts";
import { renderRocSvg } from "./roc_svg.ts";
import { loadRun, runPath, type RunRecord, saveRun, writeAtomic } from "./run_store.ts";
import { type EvalSummary, summarize } from "./summary.ts";

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
  /** Where CLIP runs. @default "cpu" */
  device?: Device;
  /** onnxruntime CPU threads. @default {all cores} */
  threads?: number;
  /** The graph cache of the CLIP model. @default {the model loader's} */
  cacheDir?: string;
  /** Receives progress, finished runs and notes. */
  onEvent?: (event: EvalEvent) => void;
}

/** The JSON document an evaluation writes (and `adp eval --json` prints). */
export interface EvalDocument {
  /** Marks the document. */
  format: "adp-eval/1";
  /** What was measured. */
  settings: EvalSettings;
  /** The variant whose figures sit at the top level of every entry. */
  primaryVariant: Variant;
  /** What each metric is. */
  metrics: Record<string, string>;
  /** category → K → the primary variant's means over seeds, with `std`, `perSeed` and every `variants`' figures. */
  categories: EvalSummary["categories"];
  /** K → means over categories (each seed's category mean, then mean ± std over seeds). */
  overall: EvalSummary["overall"];
  /**
   * With the `patch` variant: per category, the least mean calibration gap any threshold from K shots
   * can expect at ≤ 5% mean false rejects with the patch branch's ranking (calibration_bound.ts).
   */
  samplingBounds?: CategoryBound[];
  /** With --feedback: per category, K and budget N, the rest's rates before and after (means over seeds). */
  feedback?: FeedbackSummaryRow[];
  /** Runs in all, measured now, and reused from an earlier evaluation. */
  runs: { total: number; executed: number; resumed: number };
  /** Wall time of the whole evaluation. */
  durationSeconds: number;
  /** What was written: the two documents, the runs folder and the plots. */
  files: { json: string; markdown: string; runs: string; plots: string[] };
}

/** What {@linkcode runEvaluation} returns. */
export interface EvalResult {
  /** The JSON document written as results.json. */
  document: EvalDocument;
  /** Means and spreads per category, K and variant. */
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
  const out = resolve(opts.out);
  const datasets: _CategoryTests[] = [];
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
  const plan = await _planRuns(settings, datasets, { out, resume: opts.resume, modelHash, backboneHash });
  const { records, executed } = await _executeRuns(plan, datasets, settings, { ...opts, out, usesClip });
  return await _writeResults(records, datasets, settings, { out, planned: plan.length, executed, started });
}

/** A category's dataset and the test images an evaluation uses of it. */
interface _CategoryTests {
  dataset: AnomalyDataset;
  test: TestSample[];
}

/** One run of the plan, with its saved record when it is resumed. */
type _Planned = {
  category: string;
  index: number;
  k: number;
  seed: number;
  identity: RunIdentity;
  saved?: RunRecord;
};

/** Every run, planned, with what is already saved. */
async function _planRuns(
  settings: EvalSettings,
  datasets: readonly _CategoryTests[],
  where: { out: string; resume?: boolean; modelHash: string | null; backboneHash: string | null },
): Promise<_Planned[]> {
  const { out, modelHash, backboneHash } = where;
  const plan: _Planned[] = [];
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
      ...(settings.feedback ? { feedback: settings.feedback } : {}),
      ...(settings.precision && settings.precision !== "fp32" ? { precision: settings.precision } : {}),
    };
    for (const k of settings.shots) {
      for (const seed of settings.seeds) {
        const saved = where.resume
          ? await loadRun(runPath(out, dataset.category, k, seed), identity)
          : undefined;
        plan.push({ category: dataset.category, index, k, seed, identity, saved });
      }
    }
  }
  return plan;
}

/** The models the runs share, each loaded when the first run that needs it starts. */
interface _Models {
  clip?: ClipModel;
  plainExtractor?: FeatureExtractor;
}

/** Measures the runs of the plan that are not saved yet, saving each as it finishes, in plan order. */
async function _executeRuns(
  plan: readonly _Planned[],
  datasets: readonly _CategoryTests[],
  settings: EvalSettings,
  opts: EvalOptions & { out: string; usesClip: boolean },
): Promise<{ records: { category: string; record: RunRecord }[]; executed: number }> {
  const emit = opts.onEvent ?? (() => {});
  const out = opts.out;
  const pending = plan.filter((p) => !p.saved).length;
  const models: _Models = {};
  const records: { category: string; record: RunRecord }[] = [];
  let executed = 0, done = 0;
  const runStarted = performance.now();
  const eta = (fractionDone: number) =>
    fractionDone > 0.01
      ? ((performance.now() - runStarted) / 1000) * ((pending - fractionDone) / fractionDone)
      : null;
  const finished = (run: _Planned, record: RunRecord, resumed: boolean) =>
    emit({
      kind: "run",
      category: run.category,
      k: run.k,
      seed: run.seed,
      record,
      resumed,
      done: ++done,
      total: plan.length,
      etaSeconds: eta(executed),
    });

  try {
    let category: CategoryState | undefined;
    for (const run of plan) {
      if (run.saved) {
        records.push({ category: run.category, record: run.saved });
        finished(run, run.saved, true);
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
      await _loadModels(models, settings, opts, progress);
      const t0 = performance.now();
      const isSheetRun = run.k === Math.max(...settings.shots) && run.seed === settings.seeds[0];
      const record = await measureRun(category, {
        k: run.k,
        seed: run.seed,
        identity: run.identity,
        clip: models.clip,
        plainExtractor: models.plainExtractor,
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
      finished(run, record, false);
    }
  } finally {
    await models.plainExtractor?.dispose();
    await models.clip?.dispose();
  }
  return { records, executed };
}

/** Loads CLIP and the plain patch extractor when the evaluation needs them and they are not loaded yet. */
async function _loadModels(
  models: _Models,
  settings: EvalSettings,
  opts: EvalOptions & { usesClip: boolean },
  progress: (f: number, stage: string) => void,
): Promise<void> {
  const emit = opts.onEvent ?? (() => {});
  if (opts.usesClip && !models.clip) {
    progress(0, "loading CLIP");
    models.clip = await loadClip(settings.model!, {
      device: opts.device ?? "cpu",
      threads: opts.threads,
      precision: settings.precision,
      cacheDir: opts.cacheDir,
      log: (message) => emit({ kind: "note", message }),
    });
  }
  if (settings.variants.includes("plain-patch") && !models.plainExtractor) {
    models.plainExtractor = await openPlainExtractor({
      backbone: settings.backbone,
      clip: models.clip,
      threads: opts.threads,
      precision: settings.precision === "int8" ? "int8" : "fp32",
    });
  }
}

/** The summary, plots, results.json and results.md of the finished runs. */
async function _writeResults(
  records: { category: string; record: RunRecord }[],
  datasets: readonly _CategoryTests[],
  settings: EvalSettings,
  run: { out: string; planned: number; executed: number; started: number },
): Promise<EvalResult> {
  const { out, executed, started } = run;
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
  const feedback = settings.feedback
    ? summarizeFeedback(records.map(({ category, record }) => ({
      category,
      k: record.k,
      outcomes: record.feedback ?? [],
    })))
    : undefined;
  const bounds = settings.variants.includes("patch") ? patchBounds(records) : [];
  const extra = [
    ...(bounds.length ? [samplingBoundTable(bounds)] : []),
    ...(feedback ? [feedbackTable(feedback)] : []),
  ];
  const text = renderTables([...reportTables(summary), ...extra], "text");
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
    ...(bounds.length ? { samplingBounds: bounds } : {}),
    ...(feedback ? { feedback } : {}),
    runs: { total: run.planned, executed, resumed: run.planned - executed },
    durationSeconds: Math.round((performance.now() - started) / 100) / 10,
    files,
  };
  const markdown = renderMarkdown(document, summary, extra);
  await Deno.mkdir(out, { recursive: true });
  await writeAtomic(files.json, JSON.stringify(document, null, 2) + "\n");
  await writeAtomic(files.markdown, markdown);
  return { document, summary, text, markdown };
}

/** The sampling bound of each category's patch scores; none where a run cannot give one (a class missing). */
function patchBounds(records: readonly { category: string; record: RunRecord }[]): CategoryBound[] {
  const byCategory = new Map<string, BoundRun[]>();
  for (const { category, record } of records) {
    const scores = record.variants.patch?.scores;
    if (!scores) return [];
    byCategory.set(category, [...(byCategory.get(category) ?? []), {
      k: record.k,
      scores,
      labels: record.labels,
    }]);
  }
  try {
    return categoryBounds(byCategory);
  } catch (e) {
    if (e instanceof RangeError) return [];
    throw e;
  }
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

function renderMarkdown(doc: EvalDocument, summary: EvalSummary, extra: readonly Table[]): string {
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
    }${s.precision && s.precision !== "fp32" ? `; precision ${s.precision}` : ""}${
      s.steps ? `; ${s.steps} steps per concept` : ""
    }${s.labelPrompts ? "; label prompts (ADP_ℓ)" : ""}`,
    `- pixel metrics at ${s.pixelSize === "mask" ? "each mask's own size" : `${s.pixelSize}×${s.pixelSize}`}`,
    `- runs: ${doc.runs.total} (${doc.runs.executed} measured now, ${doc.runs.resumed} resumed), ${doc.durationSeconds} s`,
    "",
    renderTables([...reportTables(summary, { detailed: true }), ...extra], "markdown"),
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
