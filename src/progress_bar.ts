/**
 * A one-line terminal progress bar as a pure string function, so that downloads, enrollment and
 * evaluation can share it and tests can compare its output. Redrawing (a carriage return, clearing
 * the line, whether stdout is a terminal at all) is the caller's business.
 *
 * @module
 */

/** What one frame of a progress bar shows. */
export interface ProgressBarOptions {
  /** What is in progress, e.g. a file name or an enrollment stage. */
  label: string;
  /**
   * Completed share in [0, 1]; values outside are clamped. When absent it is `received / total`
   * if both are known, else the bar is drawn empty and no percentage is shown.
   */
  fraction?: number;
  /** Bytes done so far; with it the line shows sizes. */
  received?: number;
  /** Bytes expected in all, when known. */
  total?: number;
  /** Current rate; with `total` it also gives the time left. */
  bytesPerSecond?: number;
  /**
   * Columns of the whole line; the label is shortened from the left to fit.
   * @default {80}
   */
  width?: number;
}

const MIN_BAR = 10;
const MAX_BAR = 40;
const UNITS = ["B", "kB", "MB", "GB", "TB"] as const;

/**
 * Renders one line: label, `[=====>    ]`, percentage, then `received / total`, rate and time left
 * when those are given. ASCII only, since edge devices often run on serial consoles.
 *
 * @param opts what to show
 * @returns the line, never longer than `opts.width`, with no line break
 *
 * @example A download half way through
 * ```ts
 * import { renderProgressBar } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 *
 * const line = renderProgressBar({
 *   label: "model.safetensors",
 *   received: 300e6,
 *   total: 600e6,
 *   bytesPerSecond: 10e6,
 *   width: 90,
 * });
 * assert.ok(line.startsWith("model.safetensors [====="));
 * assert.ok(line.includes(" 50% "));
 * assert.ok(line.endsWith("300.0 MB / 600.0 MB  10.0 MB/s  ETA 0:30"));
 * assert.ok(line.length <= 90);
 * ```
 *
 * @example An enrollment stage without byte counts
 * ```ts
 * import { renderProgressBar } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 *
 * const line = renderProgressBar({ label: "normal concept", fraction: 1, width: 40 });
 * assert.equal(line, "normal concept [==================] 100%");
 * ```
 */
export function renderProgressBar(opts: ProgressBarOptions): string {
  const width = Math.max(1, Math.floor(opts.width ?? 80));
  const fraction = _fraction(opts);
  const percent = fraction === undefined ? "" : ` ${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const details = _details(opts);

  // Details give way first, then the label; the bar shrinks last and the percentage stays.
  let tail = details ? `${percent}${percent ? "  " : " "}${details}` : percent;
  if (details && width - tail.length - (MIN_BAR + 3) < Math.min(opts.label.length, 8)) tail = percent;
  const label = _shorten(opts.label, Math.max(0, width - tail.length - (MIN_BAR + 3)));
  const head = label ? `${label} ` : "";
  const barWidth = Math.max(1, Math.min(MAX_BAR, width - head.length - tail.length - 2));
  return `${head}[${_bar(fraction, barWidth)}]${tail}`.slice(0, width);
}

function _fraction(opts: ProgressBarOptions): number | undefined {
  let f = opts.fraction;
  if (f === undefined && opts.received !== undefined && opts.total) f = opts.received / opts.total;
  if (f === undefined || Number.isNaN(f)) return undefined;
  return Math.min(1, Math.max(0, f));
}

function _bar(fraction: number | undefined, width: number): string {
  if (fraction === undefined) return " ".repeat(width);
  const filled = Math.floor(fraction * width);
  if (filled >= width) return "=".repeat(width);
  if (filled === 0) return " ".repeat(width);
  return "=".repeat(filled - 1) + ">" + " ".repeat(width - filled);
}

function _details(opts: ProgressBarOptions): string {
  const parts: string[] = [];
  if (opts.received !== undefined) {
    parts.push(
      opts.total === undefined
        ? _formatBytes(opts.received)
        : `${_formatBytes(opts.received)} / ${_formatBytes(opts.total)}`,
    );
  }
  const rate = opts.bytesPerSecond;
  if (rate !== undefined && Number.isFinite(rate) && rate > 0) {
    parts.push(`${_formatBytes(rate)}/s`);
    if (opts.total !== undefined && opts.received !== undefined && opts.received < opts.total) {
      parts.push(`ETA ${_formatDuration((opts.total - opts.received) / rate)}`);
    }
  }
  return parts.join("  ");
}

function _formatBytes(n: number): string {
  let value = Math.max(0, n);
  let unit = 0;
  // Decimal units, as the hub and most download tools print sizes.
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function _formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function _shorten(text: string, room: number): string {
  if (text.length <= room) return text;
  if (room <= 3) return "";
  // Keep the end: of a path or a file name, the last part is the telling one.
  return "..." + text.slice(text.length - (room - 3));
}
