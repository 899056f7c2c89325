/**
 * Comparison helpers for numerical tests: they report the worst element so a failure says where.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Largest absolute elementwise difference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Asserts max |a − b| ≤ tol, naming `what`. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const diff = maxAbsDiff(actual, expected);
  assert.ok(diff <= tol, `${what}: max abs error ${diff.toExponential(3)} exceeds ${tol}`);
}

/** Euclidean norm. */
export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
