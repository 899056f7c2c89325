/**
 * The summary as tables: the paper's Table 1 layout (categories down, K across, mean ± std over
 * seeds, a mean row), the Table 2 layout (ablation variants down), each variant's figures beside
 * the others, and the verdicts at the calibrated threshold. Rendered as aligned text for a terminal
 * or as Markdown; pure string functions.
 *
 * @module
 */
import type { CategoryBound } from "./calibration_bound.ts";
import { ABLATION_VARIANTS, type Variant, VARIANT_INFO } from "./protocol.ts";
import type { EvalSummary, Metric, VariantSummary } from "./summary.ts";

/** Column titles of the metrics. */
export const METRIC_TITLES: Readonly<Record<Metric, string>> = {
  imageAuroc: "image AUROC",
  pixelAuroc: "pixel AUROC",
  aupro: "AUPRO (FPR ≤ 0.3)",
  imageF1Max: "image F1-max",
  pixelF1Max: "pixel F1-max",
  falseRejectRate: "false-reject rate",
  missRate: "miss rate",
  balancedError: "balanced error",
  oracleBalancedError: "oracle balanced error",
  calibrationGap: "calibration gap",
  textWeight: "text weight",
};

/** A titled table: its first row is the header. */
export interface Table {
  /** The table's title. */
  title: string;
  /** Its cells, row by row; the first row is the header. */
  rows: string[][];
}

/** Options of {@linkcode reportTables}. */
export interface ReportOptions {
  /** Every variant's every metric in Table 1 layout, not only the primary's. @default false */
  detailed?: boolean;
}

/**
 * The tables of an evaluation.
 *
 * @param summary the summary
 * @param opts how much to show
 * @returns the tables in reading order
 */
export function reportTables(summary: EvalSummary, opts: ReportOptions = {}): Table[] {
  const tables: Table[] = [];
  const seeds = `mean ± std over seeds ${summary.seeds.join(", ")}`;
  const shown = opts.detailed ? summary.variants : summary.variants.slice(0, 1);
  for (const variant of shown) {
    for (const metric of ["imageAuroc", "pixelAuroc", "aupro", "imageF1Max", "pixelF1Max"] as const) {
      if (summary.overall[String(summary.shots[0])].variants[variant]?.[metric] === null) continue;
      tables.push({
        title: `${METRIC_TITLES[metric]}: ${VARIANT_INFO[variant].title} (${seeds})`,
        rows: table1(summary, (c, k) => pick(summary, c, k, variant), metric),
      });
    }
  }
  if (summary.variants.length > 1) {
    for (const metric of ["imageAuroc", "pixelAuroc"] as const) {
      tables.push({
        title: `${METRIC_TITLES[metric]} by variant, mean over categories (${seeds})`,
        rows: byVariant(summary, summary.variants, metric),
      });
    }
  }
  const ablation = ABLATION_VARIANTS.filter((v) => summary.variants.includes(v));
  if (ablation.length === ABLATION_VARIANTS.length) {
    tables.push({
      title: `Table 2 ablation: image AUROC, mean over categories (${seeds})`,
      rows: byVariant(summary, ablation, "imageAuroc"),
    });
  }
  if (summary.variants.includes("fused")) {
    tables.push({
      title:
        `Verdicts at the calibrated threshold (ADP fused): false-reject rate on good parts / miss rate on ` +
        `defective ones (means over seeds ${summary.seeds.join(", ")})`,
      rows: verdicts(summary),
    });
    if (summary.overall[String(summary.shots[0])].variants.fused?.calibrationGap != null) {
      tables.push({
        title:
          `Calibration (ADP fused): balanced error at the calibrated threshold / the oracle's (the best ` +
          `any threshold reaches on the test set); gap = their difference, mean / worst over seeds ` +
          `${summary.seeds.join(", ")}; text branch admitted in n of the seeds' runs`,
        rows: calibration(summary),
      });
    }
  }
  if (summary.variants.includes("plain-patch")) {
    const against = (["patch", "fused"] as const).filter((v) => summary.variants.includes(v));
    if (against.length) {
      tables.push({
        title: `Image AUROC against the plain nearest neighbour: ${
          against.map((v) => VARIANT_INFO[v].title).join(" / ")
        } minus plain (means over seeds ${summary.seeds.join(", ")})`,
        rows: againstPlain(summary, against),
      });
    }
  }
  return tables;
}

/**
 * Renders tables as aligned plain text or as Markdown.
 *
 * @param tables the tables
 * @param format `text` or `markdown`
 * @returns the rendering, tables separated by blank lines
 */
export function renderTables(tables: readonly Table[], format: "text" | "markdown"): string {
  return tables.map((t) => (format === "markdown" ? markdown(t) : text(t))).join("\n\n") + "\n";
}

/** `0.995 ± 0.001`, or `–` when the metric does not apply. */
export function formatStat(mean: number | null, std: number | null): string {
  if (mean === null) return "–";
  return std === null ? mean.toFixed(3) : `${mean.toFixed(3)} ± ${std.toFixed(3)}`;
}

function pick(
  summary: EvalSummary,
  category: string | null,
  k: number,
  variant: Variant,
): VariantSummary | undefined {
  const entry = category === null ? summary.overall[String(k)] : summary.categories[category][String(k)];
  return entry.variants[variant];
}

function table1(
  summary: EvalSummary,
  get: (category: string | null, k: number) => VariantSummary | undefined,
  metric: Metric,
): string[][] {
  const header = ["category", ...summary.shots.map((k) => `K=${k}`)];
  const row = (name: string, category: string | null) => [
    name,
    ...summary.shots.map((k) => {
      const s = get(category, k);
      return s ? formatStat(s[metric], s.std[metric]) : "–";
    }),
  ];
  return [header, ...Object.keys(summary.categories).map((c) => row(c, c)), row("mean", null)];
}

function byVariant(summary: EvalSummary, variants: readonly Variant[], metric: Metric): string[][] {
  return [
    ["variant", ...summary.shots.map((k) => `K=${k}`)],
    ...variants.map((v) => [
      VARIANT_INFO[v].title,
      ...summary.shots.map((k) => {
        const s = pick(summary, null, k, v);
        return s ? formatStat(s[metric], s.std[metric]) : "–";
      }),
    ]),
  ];
}

function verdicts(summary: EvalSummary): string[][] {
  const cell = (s: VariantSummary | undefined) =>
    s && s.falseRejectRate !== null && s.missRate !== null
      ? `${s.falseRejectRate.toFixed(3)} / ${s.missRate.toFixed(3)}`
      : "–";
  return [
    ["category", ...summary.shots.map((k) => `K=${k}`)],
    ...Object.keys(summary.categories).map((
      c,
    ) => [c, ...summary.shots.map((k) => cell(pick(summary, c, k, "fused")))]),
    ["mean", ...summary.shots.map((k) => cell(pick(summary, null, k, "fused")))],
  ];
}

function calibration(summary: EvalSummary): string[][] {
  const cell = (s: VariantSummary | undefined) => {
    if (!s || s.calibrationGap === null || s.balancedError === null || s.oracleBalancedError === null) {
      return "–";
    }
    const gaps = s.perSeed.calibrationGap.filter((g): g is number => g !== null);
    const admitted = s.perSeed.textWeight.filter((w) => w !== null && w > 0).length;
    return `${s.balancedError.toFixed(3)} / ${s.oracleBalancedError.toFixed(3)}, gap ${
      s.calibrationGap.toFixed(3)
    } / ${Math.max(...gaps).toFixed(3)}, text ${admitted}/${s.perSeed.textWeight.length}`;
  };
  return [
    ["category", ...summary.shots.map((k) => `K=${k}`)],
    ...Object.keys(summary.categories).map((
      c,
    ) => [c, ...summary.shots.map((k) => cell(pick(summary, c, k, "fused")))]),
    ["mean", ...summary.shots.map((k) => cell(pick(summary, null, k, "fused")))],
  ];
}

function againstPlain(summary: EvalSummary, against: readonly Variant[]): string[][] {
  const diff = (a: VariantSummary | undefined, b: VariantSummary | undefined) =>
    a && b
      ? (a.imageAuroc! - b.imageAuroc! >= 0 ? "+" : "") + (a.imageAuroc! - b.imageAuroc!).toFixed(3)
      : "–";
  const row = (name: string, c: string | null) => [
    name,
    ...summary.shots.map((k) =>
      against.map((v) => diff(pick(summary, c, k, v), pick(summary, c, k, "plain-patch"))).join(" / ")
    ),
  ];
  return [
    ["category", ...summary.shots.map((k) => `K=${k}`)],
    ...Object.keys(summary.categories).map((c) => row(c, c)),
    row("mean", null),
  ];
}

/**
 * The sampling bound per data set (calibration_bound.ts): what any calibration from K shots can
 * expect at ≤ 5% mean false rejects with the patch branch's ranking.
 */
export function samplingBoundTable(bounds: readonly CategoryBound[], target = 0.05): Table {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return {
    title:
      "Sampling bound (patch branch): the least mean calibration gap any threshold set from K shots can " +
      "expect at ≤ 5% mean false rejects over the runs, the level a factor on the scores (per K the offset " +
      "above the goods' log level in their log spreads, and its gap; the same with the level's error " +
      "resampled from the test goods, or with an offset per run) or an offset",
    rows: [
      [
        "category",
        "runs",
        "bound",
        "its false rejects",
        "per K: offset, gap",
        "errors resampled",
        "offset per run",
        "level an offset",
        "level known",
        `≤ ${target} with defects +δσ (AUROC)`,
      ],
      ...bounds.map((b) => [
        b.category,
        String(b.runs),
        b.bound.gap.toFixed(3),
        pct(b.bound.falseRejectRate),
        b.bound.perK.map((k) => `K=${k.k}: ${k.z.toFixed(2)}, ${k.gap.toFixed(3)}`).join("; "),
        b.resampled.toFixed(3),
        b.offsetPerRun.toFixed(3),
        b.asOffset.toFixed(3),
        b.levelKnown.toFixed(3),
        b.separationNeeded
          ? `δ = ${b.separationNeeded.delta} (${b.separationNeeded.imageAuroc.toFixed(3)})`
          : "beyond δ = 4",
      ]),
    ],
  };
}

function text(table: Table): string {
  const widths = table.rows[0].map((_, j) => Math.max(...table.rows.map((r) => [...r[j]].length)));
  const line = (r: string[]) =>
    r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join("  ");
  return [table.title, ...table.rows.map(line)].join("\n");
}

function markdown(table: Table): string {
  const [header, ...body] = table.rows;
  return [
    `### ${table.title}`,
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, j) => (j === 0 ? "---" : "---:")).join(" | ")} |`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
