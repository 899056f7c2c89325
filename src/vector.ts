/**
 * Small dense-vector helpers shared by the model facade and ADP's math (a few hundred numbers at a
 * time; anything larger runs as an ONNX graph).
 *
 * @module
 */
import { concatTyped } from "./bytes.ts";

/** Unit-norm rows of a [rows, width] matrix (float64), and each row's norm. */
export function normalizeRows(
  x: ArrayLike<number>,
  width: number,
): { unit: Float64Array; norms: Float64Array } {
  const rows = x.length / width;
  const unit = new Float64Array(x.length);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let k = 0; k < width; k++) sq += x[r * width + k] ** 2;
    norms[r] = Math.sqrt(sq);
    const inv = norms[r] > 0 ? 1 / norms[r] : 0;
    for (let k = 0; k < width; k++) unit[r * width + k] = x[r * width + k] * inv;
  }
  return { unit, norms };
}

/** Inner product. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The parts, one after the other, in a new array. */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  return concatTyped(parts, (length) => new Float32Array(length));
}
