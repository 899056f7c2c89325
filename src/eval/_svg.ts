/**
 * The few SVG pieces the plots share: escaping, a palette that stays distinguishable for colour-blind
 * readers (Okabe–Ito), number formatting without float noise.
 *
 * @module
 */

/** Okabe–Ito colours, in the order series take them. */
export const PALETTE = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#F0E442",
  "#000000",
];

/** Text made safe for SVG content and attributes. */
export function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A coordinate with at most two decimals. */
export function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** The opening tag of a standalone SVG document with a white background. */
export function svgOpen(width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="${width}" height="${height}" fill="#fff"/>\n`;
}
