/**
 * ROC curves as an SVG document: one curve per series (e.g. per K), the chance diagonal, gridlines
 * at every 0.2, and a legend carrying each curve's AUROC. A pure string function.
 *
 * @module
 */
import { esc, num, PALETTE, svgOpen } from "./_svg.ts";

/** One curve. */
export interface RocSeries {
  /** The legend entry. */
  label: string;
  /** False positive rates of the curve's points. */
  fpr: ArrayLike<number>;
  /** True positive rates of the curve's points. */
  tpr: ArrayLike<number>;
}

/** Options of {@linkcode renderRocSvg}. */
export interface RocSvgOptions {
  /** The figure's title. */
  title: string;
  /** Side of the square plot in pixels. @default {440} */
  size?: number;
}

/**
 * Renders ROC curves.
 *
 * @param series the curves (points by increasing FPR, from (0, 0) to (1, 1))
 * @param opts title and size
 * @returns an SVG document
 *
 * @example One perfect curve
 * ```ts
 * import { ok } from "node:assert/strict";
 * const svg = renderRocSvg([{ label: "K=2", fpr: [0, 0, 1], tpr: [0, 1, 1] }], { title: "bottle" });
 * ok(svg.startsWith("<svg") && svg.includes("K=2"));
 * ```
 */
export function renderRocSvg(series: readonly RocSeries[], opts: RocSvgOptions): string {
  const size = opts.size ?? 440;
  const left = 52, top = 34, plot = size - left - 16;
  const height = top + plot + 44 + 18 * Math.ceil(series.length / 2);
  const x = (v: number) => num(left + v * plot), y = (v: number) => num(top + (1 - v) * plot);
  const parts = [svgOpen(size, height)];
  parts.push(
    `<text x="${size / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${
      esc(opts.title)
    }</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const v = i / 5;
    parts.push(
      `<line x1="${x(v)}" y1="${y(0)}" x2="${x(v)}" y2="${y(1)}" stroke="#e5e5e5"/>`,
      `<line x1="${x(0)}" y1="${y(v)}" x2="${x(1)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${x(v)}" y="${num(top + plot + 16)}" text-anchor="middle">${v.toFixed(1)}</text>`,
      `<text x="${left - 6}" y="${num(top + (1 - v) * plot + 4)}" text-anchor="end">${v.toFixed(1)}</text>`,
    );
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${plot}" height="${plot}" fill="none" stroke="#333"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
    `<text x="${num(left + plot / 2)}" y="${
      num(top + plot + 34)
    }" text-anchor="middle">false-positive rate</text>`,
    `<text transform="translate(14 ${
      num(top + plot / 2)
    }) rotate(-90)" text-anchor="middle">true-positive rate</text>`,
  );
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const points = Array.from({ length: s.fpr.length }, (_, j) => `${x(s.fpr[j])},${y(s.tpr[j])}`).join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    const lx = left + (i % 2) * (plot / 2), ly = top + plot + 52 + 18 * Math.floor(i / 2);
    parts.push(
      `<line x1="${num(lx)}" y1="${num(ly - 4)}" x2="${num(lx + 18)}" y2="${
        num(ly - 4)
      }" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${num(lx + 24)}" y="${num(ly)}">${esc(s.label)}</text>`,
    );
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}
