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

interface Row {
  gap: number;
  frr: number;
  miss: number;
  text: boolean;
  fused: number;
  plain: number;
}

const byCategory = new Map<string, Map<number, Row[]>>();
for (const out of Deno.args) {
  for await (const cat of Deno.readDir(join(out, "runs"))) {
    if (!cat.isDirectory) continue;
    for await (const f of Deno.readDir(join(out, "runs", cat.name))) {
      if (!f.name.endsWith(".json")) continue;
      const r = JSON.parse(await Deno.readTextFile(join(out, "runs", cat.name, f.name)));
      const fused: number[] = r.variants.fused.scores;
      const m = verdictMetrics(fused, r.labels, r.threshold);
      const plain = r.variants["plain-patch"]?.scores;
      const rows = byCategory.get(cat.name) ?? new Map<number, Row[]>();
      byCategory.set(cat.name, rows);
      rows.set(r.k, [...(rows.get(r.k) ?? []), {
        gap: m.calibrationGap,
        frr: m.falseRejectRate,
        miss: m.missRate,
        text: (r.fusion?.textWeight ?? 0) > 0,
        fused: imageAuroc(fused, r.labels),
        plain: plain ? imageAuroc(plain, r.labels) : NaN,
      }]);
    }
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f3 = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(3));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(
  "| data set | K | runs | mean gap | worst gap | FRR | miss | text admitted | fused AUROC | plain NN AUROC | fused − plain |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [cat, rows] of [...byCategory].sort()) {
  const all: Row[] = [];
  for (const [k, xs] of [...rows].sort((a, b) => a[0] - b[0])) {
    all.push(...xs);
    const fused = mean(xs.map((x) => x.fused)), plain = mean(xs.map((x) => x.plain));
    console.log(
      `| ${cat} | ${k} | ${xs.length} | ${f3(mean(xs.map((x) => x.gap)))} | ${
        f3(Math.max(...xs.map((x) => x.gap)))
      } | ${pct(mean(xs.map((x) => x.frr)))} | ${pct(mean(xs.map((x) => x.miss)))} | ${
        xs.filter((x) => x.text).length
      } | ${f3(fused)} | ${f3(plain)} | ${(fused - plain >= 0 ? "+" : "") + f3(fused - plain)} |`,
    );
  }
  console.log(
    `| **${cat}, all K** | | ${all.length} | **${f3(mean(all.map((x) => x.gap)))}** | **${
      f3(Math.max(...all.map((x) => x.gap)))
    }** | **${pct(mean(all.map((x) => x.frr)))}** | ${pct(mean(all.map((x) => x.miss)))} | **${
      all.filter((x) => x.text).length
    }** | | | |`,
  );
}
