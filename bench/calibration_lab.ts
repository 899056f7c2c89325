/**
 * Offline work on calibration: reads the inputs `adp eval` dumps with ADP_EVAL_DUMP_CALIBRATION=1
 * (`<out>/calibration/<category>/k<K>-seed<S>.{json,bin}`: the shots' patch distances, the
 * held-out normals' text scores, the pseudo-anomalies' and the test images' branch scores), runs
 * the product's calibration (`calibrateStation`) on them and tabulates the verdicts, in seconds
 * instead of an enrollment per run. Knobs of `ThresholdOptions` can be overridden as `name=value`.
 *
 *   deno run -A bench/calibration_lab.ts OUT… [targetFalseRejectRate=0.01 …]
 *
 * @module
 */
import { join } from "node:path";
import type { HeldOutDistances } from "../src/adp/held_out.ts";
import { type BranchScores, fuseScores } from "../src/adp/fusion.ts";
import { calibrateStation, type ThresholdOptions, unseenGoods } from "../src/adp/calibration.ts";
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
import { meanStd } from "../src/eval/summary.ts";

export interface DumpedRun {
  category: string;
  k: number;
  seed: number;
  labels: number[];
  normals: BranchScores[];
  pseudoAnomalies: BranchScores[];
  distances: HeldOutDistances;
  test: Record<string, number[]>;
}

export async function loadDumps(roots: string[]): Promise<DumpedRun[]> {
  const runs: DumpedRun[] = [];
  for (const root of roots) {
    const base = join(root, "calibration");
    for await (const cat of Deno.readDir(base)) {
      for await (const f of Deno.readDir(join(base, cat.name))) {
        if (!f.name.endsWith(".json")) continue;
        const path = join(base, cat.name, f.name);
        const doc = JSON.parse(await Deno.readTextFile(path));
        const bytes = await Deno.readFile(path.replace(/\.json$/, ".bin"));
        const bin = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        const s = doc.distances;
        const n = s.shots * s.testViews * s.shots * s.memoryViews * s.cells;
        const selfEnd = n + (s.hasSelf ? s.shots * s.testViews * s.cells : 0);
        const { hasSelf: _, hasEdgeOffsets: __, ...shape } = s;
        runs.push({
          category: cat.name,
          k: doc.k,
          seed: doc.seed,
          labels: doc.labels,
          normals: doc.normals,
          pseudoAnomalies: doc.pseudoAnomalies,
          distances: {
            ...shape,
            cross: bin.subarray(0, n),
            self: s.hasSelf ? bin.subarray(n, selfEnd) : null,
            ...(s.hasEdgeOffsets ? { edgeOffsets: bin.subarray(selfEnd) } : {}),
          },
          test: doc.test,
        });
      }
    }
  }
  return runs.sort((a, b) => a.category.localeCompare(b.category) || a.k - b.k || a.seed - b.seed);
}

/** Recomputes every run's calibration with the product's code and tabulates it like calibration_table.ts. */
async function main(args: string[]): Promise<void> {
  const options: Partial<ThresholdOptions> = {};
  for (const a of args.filter((x) => x.includes("="))) {
    const [k, v] = a.split("=");
    (options as Record<string, number | boolean>)[k] = v === "true"
      ? true
      : v === "false"
      ? false
      : Number(v);
  }
  const runs = await loadDumps(args.filter((x) => !x.includes("=")));
  const byCategory: CalibrationRows = new Map(), boundRuns = new Map<string, BoundRun[]>();
  for (const r of runs) {
    const bound = { k: r.k, scores: r.test.patch, labels: r.labels };
    boundRuns.set(r.category, [...(boundRuns.get(r.category) ?? []), bound]);
    const d = r.distances;
    const cal = calibrateStation(
      { distances: d, normalText: r.normals.map((s) => s.text), pseudoAnomalies: r.pseudoAnomalies },
      { ...options, seed: r.seed },
    );
    const fused = r.test.patch.map((p, i) => fuseScores({ patch: p, text: r.test.text[i] }, cal.fusion));
    const m = verdictMetrics(fused, r.labels, cal.threshold);
    addCalibrationRow(byCategory, r.category, d.shots, {
      gap: m.calibrationGap,
      frr: m.falseRejectRate,
      miss: m.missRate,
      text: cal.fusion.textWeight > 0,
      fused: imageAuroc(fused, r.labels),
      plain: r.test["plain-patch"] ? imageAuroc(r.test["plain-patch"], r.labels) : NaN,
      gapAt95: gapAtGoodsQuantile(fused, r.labels, 0.05),
    });
  }
  console.log(calibrationTable(byCategory).join("\n"));
  console.log(`\n${renderTables([samplingBoundTable(categoryBounds(boundRuns))], "markdown")}`);
  console.log(`\n${levelErrorLines(runs, options).join("\n")}`);
}

/**
 * How far the calibration's predicted level of unseen goods (mean log score) falls from the test
 * goods', in units of the sampling error the bound assumes (σ/√K, σ the test goods' log spread):
 * the mean square per category over the runs at K ≥ 2, which is 1 when the bound's noise model holds.
 */
function levelErrorLines(runs: DumpedRun[], options: Partial<ThresholdOptions>): string[] {
  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const squares = new Map<string, number[]>();
  for (const r of runs.filter((r) => r.k >= 2)) {
    const goods = r.test.patch.filter((_, i) => !r.labels[i]).map(Math.log);
    const { mean: level, std: spread } = meanStd(goods) as { mean: number; std: number };
    const predicted = meanOf(unseenGoods(r.distances, options).scores.map(Math.log));
    const z = ((predicted - level) / spread) * Math.sqrt(r.k);
    squares.set(r.category, [...(squares.get(r.category) ?? []), z * z]);
  }
  const all = [...squares.values()].flat();
  return [
    `level error of the unseen-goods prediction, mean of (error / (σ/√K))² over runs at K ≥ 2: ${
      meanOf(all).toFixed(2)
    } (${all.length} runs; ${[...squares].map(([c, v]) => `${c} ${meanOf(v).toFixed(2)}`).join(", ")})`,
  ];
}

if (import.meta.main) await main(Deno.args);
