/**
 * Byte-buffer helpers shared by the floors that build binary formats (ONNX protobuf, PNG chunks), and
 * the typed-array concatenation they share with the float floors.
 *
 * @module
 */

/**
 * The parts, one after the other, in a new buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./bytes.ts";
 *
 * assert.deepEqual(concatBytes([Uint8Array.of(1, 2), Uint8Array.of(3)]), Uint8Array.of(1, 2, 3));
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return concatTyped(parts, (length) => new Uint8Array(length));
}

/** Typed arrays of one kind, one after the other, in a new one that `make` allocates. */
export function concatTyped<T extends Uint8Array | Float32Array>(
  parts: readonly T[],
  make: (length: number) => T,
): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
