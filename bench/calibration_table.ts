/**
 * The calibration table of the README from saved eval runs, computed the way an outside check does:
 * from each run's `labels`, `threshold`, `variants.fused.scores` and `fusion.textWeight` only (plus
 * `variants["plain-patch"].scores` for the baseline).
 *
 *   deno run -A bench/calibration_table.ts OUT_DIR…      (each an `adp eval --out` folder)
 *
 * @module
 */
import { join } from "node:path";
import { verdictMetrics } from "../src/eval/calibration_gap.ts";
import { imageAuroc } from "../src/metrics/mod.ts";
import {
  addCalibrationRow,
  type CalibrationRows,
  calibrationTable,
  gapAtGoodsQuantile,
} from "./_calibration_rows.ts";
import { type BoundRun, categoryBounds } from "../src/eval/calibration_bound.ts";
import { renderTables, samplingBoundTable } from "../src/eval/report_text.ts";

const byCategory: CalibrationRows = new Map(), boundRuns = new Map<string, BoundRun[]>();
for (const out of Deno.args) {
  for await (const cat of Deno.readDir(join(out, "runs"))) {
    if (!cat.isDirectory) continue;
    for await (const f of Deno.readDir(join(out, "runs", cat.name))) {
      if (!f.name.endsWith(".json")) continue;
      const r = JSON.parse(await Deno.readTextFile(join(out, "runs", cat.name, f.name)));
      const fused: number[] = r.variants.fused.scores;
      const m = verdictMetrics(fused, r.labels, r.threshold);
      const plain = r.variants["plain-patch"]?.scores;
      addCalibrationRow(byCategory, cat.name, r.k, {
        gap: m.calibrationGap,
        frr: m.falseRejectRate,
        miss: m.missRate,
        text: (r.fusion?.textWeight ?? 0) > 0,
        fused: imageAuroc(fused, r.labels),
        plain: plain ? imageAuroc(plain, r.labels) : NaN,
        gapAt95: gapAtGoodsQuantile(fused, r.labels, 0.05),
      });
      const patch = r.variants.patch?.scores;
      if (patch) {
        boundRuns.set(cat.name, [...(boundRuns.get(cat.name) ?? []), {
          k: r.k,
          scores: patch,
          labels: r.labels,
        }]);
      }
    }
  }
}
console.log(calibrationTable(byCategory).join("\n"));
console.log(`\n${renderTables([samplingBoundTable(categoryBounds(boundRuns))], "markdown")}`);
