/**
 * The calibration table of the README, from per-run rows: what `calibration_table.ts` (saved runs, as
 * an outside check reads them) and `calibration_lab.ts` (calibration re-run on dumped inputs) both print.
 *
 * @module
 */

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
    "| data set | K | runs | mean gap | worst gap | FRR | miss | text admitted | fused AUROC | plain NN AUROC | fused − plain |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
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
          xs.filter((x) => x.text).length
        } | ${f3(fused)} | ${f3(plain)} | ${(fused - plain >= 0 ? "+" : "") + f3(fused - plain)} |`,
      );
    }
    lines.push(
      `| **${cat}, all K** | | ${all.length} | **${f3(mean(all.map((x) => x.gap)))}** | **${
        f3(Math.max(...all.map((x) => x.gap)))
      }** | **${pct(mean(all.map((x) => x.frr)))}** | ${pct(mean(all.map((x) => x.miss)))} | **${
        all.filter((x) => x.text).length
      }** | | | |`,
    );
  }
  return lines;
}
