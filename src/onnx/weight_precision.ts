/**
 * Weights converted to a reduced precision while a graph is built: float16 bit patterns, and int8
 * with one symmetric scale per output column. The project builds its own graphs, so this is where
 * quantisation happens; no separate tool rewrites a float32 model afterwards.
 *
 * @module
 */

/** Largest int8 magnitude used: symmetric, so −127…127 and a zero point of 0. */
const INT8_MAX = 127;

/** A [K, N] weight quantised per column: `w[k, n] ≈ weight[k, n] · scale[n]`. */
export interface QuantizedColumns {
  /** int8 values, row-major [K, N], as bytes (the graph stores them with dtype int8). */
  weight: Uint8Array;
  /** [N] float32 scales, one per column (output channel). */
  scale: Float32Array;
}

/**
 * Quantises a row-major [rows, cols] float32 matrix to int8 per column (the output channels of a
 * `x @ W` weight): each column's scale is its largest magnitude over 127, values are rounded to the
 * nearest step. An all-zero column gets scale 1 (its values are all 0 either way).
 *
 * @param data the matrix, row-major
 * @param rows K, the inner dimension
 * @param cols N, the output channels
 * @returns int8 bytes and per-column scales
 * @throws {RangeError} when `data` does not hold rows·cols values
 *
 * @example One column of 0.5 and one of −2
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeColumns } from "./weight_precision.ts";
 *
 * const { weight, scale } = quantizeColumns(Float32Array.of(0.5, -2, 0.25, 1), 2, 2);
 * assert.deepEqual(Array.from(new Int8Array(weight.buffer)), [127, -127, 64, 64]);
 * assert.deepEqual(Array.from(scale), [0.5 / 127, 2 / 127].map(Math.fround));
 * ```
 */
export function quantizeColumns(data: Float32Array, rows: number, cols: number): QuantizedColumns {
  if (data.length !== rows * cols) throw new RangeError(`${data.length} values are not ${rows}×${cols}`);
  const scale = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) scale[c] = Math.max(scale[c], Math.abs(data[r * cols + c]));
  }
  for (let c = 0; c < cols; c++) scale[c] = scale[c] > 0 ? scale[c] / INT8_MAX : 1;
  const weight = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const q = Math.round(data[r * cols + c] / scale[c]);
      weight[r * cols + c] = Math.max(-INT8_MAX, Math.min(INT8_MAX, q));
    }
  }
  return { weight: new Uint8Array(weight.buffer), scale };
}

/**
 * float32 values as IEEE float16 bit patterns (round to nearest even; beyond ±65504 → ±∞), the
 * form a float16 initializer is stored in.
 *
 * @param data float32 values
 * @returns their float16 bits
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toFloat16Bits } from "./weight_precision.ts";
 *
 * assert.deepEqual(Array.from(toFloat16Bits(Float32Array.of(1, -2, 0.5))), [0x3c00, 0xc000, 0x3800]);
 * ```
 */
export function toFloat16Bits(data: Float32Array): Uint16Array {
  const half = Float16Array.from(data);
  return new Uint16Array(half.buffer, half.byteOffset, half.length);
}
