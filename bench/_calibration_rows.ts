/**
 * The calibration table of the README, from per-run rows: what `calibration_table.ts` (saved runs, as
 * an outside check reads them) and `calibration_lab.ts` (calibration re-run on dumped inputs) both print.
 *
 * @module
 */
import { verdictMetrics } from "../src/eval/calibration_gap.ts";

/** One run's verdict figures. */
export interface CalibrationRow {
  /** Balanced error at the calibrated threshold minus the oracle's. */
  gap: number;
  /** False-reject rate at the calibrated threshold. */
  frr: number;
  /** Miss rate at the calibrated threshold. */
  miss: number;
  /** Whether the text branch got weight. */
  text: boolean;
  /** Image AUROC of the fused score. */
  fused: number;
  /** Image AUROC of the plain nearest neighbour (NaN when not scored). */
  plain: number;
  /** The gap a threshold at the run's own test goods' 95th percentile leaves ({@linkcode gapAtGoodsQuantile}). */
  gapAt95: number;
}

/**
 * The calibration gap of the lowest threshold that rejects no more than `rate` of the run's own
 * test goods: what a calibration that met the false-reject rate exactly, knowing nothing of the
 * defects, would leave at best. Where it exceeds a bound, no threshold at that false-reject rate
 * meets the bound: the ranking decides, not the calibration.
 *
 * @example Four goods, rate ¼: the threshold is 0.4, the lowest score above the third good; the
 * defect at 0.25 passes (balanced error 0.375), while the best threshold reaches 0.25
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(gapAtGoodsQuantile([0.1, 0.2, 0.3, 0.4, 0.25, 0.9], [0, 0, 0, 0, 1, 1], 0.25), 0.125);
 * ```
 */
export function gapAtGoodsQuantile(
  scores: readonly number[],
  labels: readonly number[],
  rate: number,
): number {
  const goods = scores.filter((_, i) => labels[i] === 0).sort((a, b) => a - b);
  const passed = goods[goods.length - Math.floor(rate * goods.length) - 1];
  const threshold = Math.min(...scores.filter((s) => s > passed));
  return verdictMetrics(scores, labels, threshold).calibrationGap;
}

/** Rows by category, then by K. */
export type CalibrationRows = Map<string, Map<number, CalibrationRow[]>>;

/** Adds one run's row under its category and K. */
export function addCalibrationRow(
  rows: CalibrationRows,
  category: string,
  k: number,
  row: CalibrationRow,
): void {
  const byK = rows.get(category) ?? new Map<number, CalibrationRow[]>();
  rows.set(category, byK);
  byK.set(k, [...(byK.get(k) ?? []), row]);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f3 = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(3));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The table as Markdown lines: a row per category and K, then the category over all K. */
export function calibrationTable(rows: CalibrationRows): string[] {
  const lines = [
    "| data set | K | runs | mean gap | worst gap | FRR | miss | gap at the goods' own 95% | text admitted | fused AUROC | plain NN AUROC | fused − plain |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [cat, byK] of [...rows].sort()) {
    const all: CalibrationRow[] = [];
    for (const [k, xs] of [...byK].sort((a, b) => a[0] - b[0])) {
      all.push(...xs);
      const fused = mean(xs.map((x) => x.fused)), plain = mean(xs.map((x) => x.plain));
      lines.push(
        `| ${cat} | ${k} | ${xs.length} | ${f3(mean(xs.map((x) => x.gap)))} | ${
          f3(Math.max(...xs.map((x) => x.gap)))
        } | ${pct(mean(xs.map((x) => x.frr)))} | ${pct(mean(xs.map((x) => x.miss)))} | ${
          f3(mean(xs.map((x) => x.gapAt95)))
        } | ${xs.filter((x) => x.text).length} | ${f3(fused)} | ${f3(plain)} | ${
          (fused - plain >= 0 ? "+" : "") + f3(fused - plain)
        } |`,
      );
    }
    lines.push(
      `| **${cat}, all K** | | ${all.length} | **${f3(mean(all.map((x) => x.gap)))}** | **${
        f3(Math.max(...all.map((x) => x.gap)))
      }** | **${pct(mean(all.map((x) => x.frr)))}** | ${pct(mean(all.map((x) => x.miss)))} | ${
        f3(mean(all.map((x) => x.gapAt95)))
      } | **${all.filter((x) => x.text).length}** | | | |`,
    );
  }
  return lines;
}
