/**
 * Means and spreads over seeds and categories, and the tables rendered from them, on hand-made runs.
 */
import assert from "node:assert/strict";
import { meanStd, summarize } from "../../src/eval/summary.ts";
import { formatStat, renderTables, reportTables } from "../../src/eval/report_text.ts";
import type { RunMetrics, RunRecord } from "../../src/eval/run_store.ts";
import type { Variant } from "../../src/eval/protocol.ts";

function run(
  category: string,
  k: number,
  seed: number,
  image: number,
  text: number,
): { category: string; record: RunRecord } {
  const metrics = (imageAuroc: number, pixel: number | null, verdicts: boolean): RunMetrics => ({
    imageAuroc,
    pixelAuroc: pixel,
    aupro: pixel === null ? null : pixel - 0.1,
    imageF1Max: imageAuroc - 0.05,
    pixelF1Max: pixel === null ? null : pixel / 2,
    falseRejectRate: verdicts ? 0.1 * seed : null,
    missRate: verdicts ? 0.2 : null,
  });
  return {
    category,
    record: {
      format: "adp-eval-run/1",
      identity: {} as RunRecord["identity"],
      k,
      seed,
      shots: [],
      labels: [0, 1],
      threshold: 3,
      fusion: null,
      variants: {
        fused: { metrics: metrics(image, 0.9, true), scores: [0, 1] },
        text: { metrics: metrics(text, null, false), scores: [0, 1] },
      },
      durationMs: 1,
      finishedAt: "",
    },
  };
}

const PLAN = { categories: ["a", "b"], shots: [2], seeds: [0, 1], variants: ["fused", "text"] as Variant[] };
const RUNS = [
  run("a", 2, 0, 0.8, 0.6),
  run("a", 2, 1, 0.9, 0.7),
  run("b", 2, 0, 0.6, 0.5),
  run("b", 2, 1, 0.7, 0.4),
];

Deno.test("meanStd() gives the mean and the sample spread, null when a value is missing", () => {
  assert.deepEqual(meanStd([1, 2, 3]), { mean: 2, std: 1 });
  assert.deepEqual(meanStd([0.5]), { mean: 0.5, std: 0 });
  assert.deepEqual(meanStd([1, null]), { mean: null, std: null });
  assert.deepEqual(meanStd([]), { mean: null, std: null });
});

Deno.test("summarize() averages over seeds per category and over categories per seed overall", () => {
  const s = summarize(RUNS, PLAN);
  const a = s.categories.a["2"];
  assert.ok(Math.abs(a.imageAuroc! - 0.85) < 1e-12);
  assert.ok(Math.abs(a.std.imageAuroc! - Math.SQRT1_2 * 0.1) < 1e-12);
  assert.deepEqual(a.perSeed.imageAuroc, [0.8, 0.9]);
  assert.equal(a.variants.text!.pixelAuroc, null);
  assert.ok(Math.abs(a.variants.text!.imageAuroc! - 0.65) < 1e-12);
  // Overall: seed 0 mean (0.8 + 0.6)/2 = 0.7, seed 1 (0.9 + 0.7)/2 = 0.8 → 0.75 ± 0.0707.
  const all = s.overall["2"];
  assert.ok(Math.abs(all.imageAuroc! - 0.75) < 1e-12);
  assert.ok(Math.abs(all.std.imageAuroc! - Math.SQRT1_2 * 0.1) < 1e-12);
  assert.ok(Math.abs(all.falseRejectRate! - 0.05) < 1e-12);
  assert.throws(() => summarize(RUNS.slice(1), PLAN), /a K=2 seed 0 is missing/);
});

Deno.test("reportTables() lays out Table 1 (categories down, K across) and the verdicts", () => {
  const tables = reportTables(summarize(RUNS, PLAN));
  const image = tables.find((t) => t.title.startsWith("image AUROC: ADP fused"))!;
  assert.deepEqual(image.rows, [["category", "K=2"], ["a", "0.850 ± 0.071"], ["b", "0.650 ± 0.071"], [
    "mean",
    "0.750 ± 0.071",
  ]]);
  const verdicts = tables.find((t) => t.title.startsWith("Verdicts"))!;
  assert.deepEqual(verdicts.rows.at(-1), ["mean", "0.050 / 0.200"]);
  const md = renderTables(tables, "markdown");
  assert.match(md, /\| category \| K=2 \|\n\| --- \| ---: \|\n\| a \| 0\.850 ± 0\.071 \|/);
  assert.equal(formatStat(null, null), "–");
});
