/**
 * Score histograms as an SVG document: per panel (e.g. per K), the good and the defective test
 * images' scores over shared bins, each class normalised to its own total so that 20 good and 63
 * defective images compare by shape, with the decision threshold drawn where there is one.
 * A pure string function.
 *
 * @module
 */
import { esc, num, svgOpen } from "./_svg.ts";

const GOOD_COLOUR = "#009E73";
const DEFECT_COLOUR = "#D55E00";

/** One panel. */
export interface HistogramPanel {
  /** The panel's caption. */
  label: string;
  /** Scores of good images. */
  good: readonly number[];
  /** Scores of defective images. */
  defective: readonly number[];
  /** The decision threshold on this score, when it has one. */
  threshold?: number;
}

/** Options of {@linkcode renderHistogramSvg}. */
export interface HistogramSvgOptions {
  /** The figure's title. */
  title: string;
  /** Bins per panel. @default {24} */
  bins?: number;
  /** Panel width. @default {360} */
  panelWidth?: number;
}

/**
 * Renders histograms of good vs. defective scores.
 *
 * @param panels the panels, laid out in two columns
 * @param opts title, bins and size
 * @returns an SVG document
 *
 * @example Two well separated classes
 * ```ts
 * import { ok } from "node:assert/strict";
 * const svg = renderHistogramSvg([{ label: "K=2", good: [0.1, 0.2], defective: [0.8, 0.9] }], { title: "bottle" });
 * ok(svg.includes("good (2)") && svg.includes("defective (2)"));
 * ```
 */
export function renderHistogramSvg(panels: readonly HistogramPanel[], opts: HistogramSvgOptions): string {
  const bins = opts.bins ?? 24;
  const pw = opts.panelWidth ?? 360, ph = 200;
  const columns = Math.min(2, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const width = columns * pw + 20, height = 52 + rows * (ph + 24);
  const parts = [svgOpen(width, height)];
  parts.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${
      esc(opts.title)
    }</text>`,
    `<rect x="50" y="30" width="10" height="10" fill="${GOOD_COLOUR}" fill-opacity="0.6"/>`,
    `<text x="64" y="39">good parts</text>`,
    `<rect x="150" y="30" width="10" height="10" fill="${DEFECT_COLOUR}" fill-opacity="0.6"/>`,
    `<text x="164" y="39">defective parts</text>`,
  );
  panels.forEach((panel, i) => {
    const ox = 10 + (i % columns) * pw, oy = 52 + Math.floor(i / columns) * (ph + 24);
    parts.push(renderPanel(panel, { ox, oy, pw, ph, bins }));
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}

function renderPanel(
  panel: HistogramPanel,
  g: { ox: number; oy: number; pw: number; ph: number; bins: number },
): string {
  const all = [...panel.good, ...panel.defective];
  if (panel.threshold !== undefined && Number.isFinite(panel.threshold)) all.push(panel.threshold);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const left = g.ox + 40, top = g.oy + 24, w = g.pw - 56, h = g.ph - 52;
  const binOf = (v: number) => Math.min(g.bins - 1, Math.floor(((v - lo) / (hi - lo)) * g.bins));
  const shares = (xs: readonly number[]) => {
    const counts = new Array(g.bins).fill(0);
    for (const v of xs) counts[binOf(v)]++;
    return counts.map((c) => (xs.length ? c / xs.length : 0));
  };
  const good = shares(panel.good), defective = shares(panel.defective);
  const peak = Math.max(...good, ...defective, 1e-9);
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * w;
  const parts = [
    `<text x="${num(left)}" y="${num(g.oy + 14)}" font-weight="bold">${esc(panel.label)}</text>`,
    `<text x="${num(left + w)}" y="${
      num(g.oy + 14)
    }" text-anchor="end" fill="#555">good (${panel.good.length}), defective (${panel.defective.length})</text>`,
  ];
  const bw = w / g.bins;
  for (const [shares_, colour] of [[good, GOOD_COLOUR], [defective, DEFECT_COLOUR]] as const) {
    shares_.forEach((s, b) => {
      if (!s) return;
      const bh = (s / peak) * h;
      parts.push(
        `<rect x="${num(left + b * bw)}" y="${num(top + h - bh)}" width="${num(bw)}" height="${
          num(bh)
        }" fill="${colour}" fill-opacity="0.55"/>`,
      );
    });
  }
  parts.push(
    `<line x1="${left}" y1="${num(top + h)}" x2="${num(left + w)}" y2="${num(top + h)}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${num(top + h)}" stroke="#333"/>`,
    ...[0, 0.25, 0.5, 0.75, 1].map((f) =>
      `<text x="${num(left + f * w)}" y="${num(top + h + 14)}" text-anchor="middle">${
        formatTick(lo + f * (hi - lo))
      }</text>`
    ),
    `<text x="${num(left + w / 2)}" y="${
      num(top + h + 28)
    }" text-anchor="middle" fill="#555">image score</text>`,
    `<text x="${left - 4}" y="${top + 4}" text-anchor="end">${(peak * 100).toFixed(0)}%</text>`,
    `<text x="${left - 4}" y="${num(top + h)}" text-anchor="end">0</text>`,
  );
  if (panel.threshold !== undefined && Number.isFinite(panel.threshold)) {
    const tx = num(x(panel.threshold));
    parts.push(
      `<line x1="${tx}" y1="${top}" x2="${tx}" y2="${num(top + h)}" stroke="#000" stroke-dasharray="5 3"/>`,
      `<text x="${num(x(panel.threshold) + (x(panel.threshold) > left + w / 2 ? -3 : 3))}" y="${top + 10}" ` +
        `text-anchor="${
          x(panel.threshold) > left + w / 2 ? "end" : "start"
        }" font-size="10">threshold</text>`,
    );
  }
  return parts.join("\n");
}

function formatTick(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 1000) ? v.toExponential(1) : v.toFixed(a < 1 ? 3 : 2);
}
