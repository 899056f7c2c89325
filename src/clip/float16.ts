/**
 * Half-precision (IEEE float16) and bfloat16 bit patterns to float32 and back, exactly: the
 * conversions behind reading and writing F16 and BF16 checkpoints. Float32 to half rounds to
 * nearest even, as PyTorch does.
 *
 * @module
 */

let f16Table: Float32Array | undefined;

/** Every half-precision bit pattern's float32 value, built once (256 KB). */
function _f16Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // Subnormals are mant·2^-24: exact in float64 and in float32.
      table[h] = (sign ? -1 : 1) * mant * 2 ** -24;
    } else if (exp === 0x1f) {
      // Keeps NaN payloads, so a round trip through float32 returns the same bits.
      bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else {
      bits[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = table;
  return table;
}

/**
 * Half-precision bit patterns to float32, exactly (subnormals, infinities and NaN payloads included).
 *
 * @example Decoding one and the smallest subnormal
 * ```ts
 * import { f16ToF32 } from "./float16.ts";
 * const out = f16ToF32(new Uint16Array([0x3c00, 0x0001]));
 * if (out[0] !== 1 || out[1] !== 2 ** -24) throw new Error("Unexpected value");
 * ```
 */
export function f16ToF32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const table = _f16Table();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/**
 * Float32 to half-precision bit patterns with round-to-nearest-even; overflow gives infinity.
 *
 * @example Ties round to even
 * ```ts
 * import { f32ToF16 } from "./float16.ts";
 * // 65520 lies halfway between 65504 (the largest half) and 65536: it rounds to infinity.
 * const bits = f32ToF16(new Float32Array([1, 65520]));
 * if (bits[0] !== 0x3c00 || bits[1] !== 0x7c00) throw new Error("Unexpected bits");
 * ```
 */
export function f32ToF16(data: Float32Array, out: Uint16Array = new Uint16Array(data.length)): Uint16Array {
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < u32.length; i++) out[i] = _f32BitsToF16(u32[i]);
  return out;
}

function _f32BitsToF16(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) {
    // Quiet bit set so that a NaN whose payload lives only in the low bits stays a NaN.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Below 2^-25 even the tie case rounds to zero.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    // A carry out of the subnormal range lands on the smallest normal, which is the right answer.
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry into the exponent (even into infinity) is exactly what round-to-nearest-even wants.
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/**
 * bfloat16 bit patterns to float32 (exact: bfloat16 is the top half of a float32).
 *
 * @example
 * ```ts
 * import { bf16ToF32 } from "./float16.ts";
 * if (bf16ToF32(new Uint16Array([0x3f80]))[0] !== 1) throw new Error("Unexpected value");
 * ```
 */
export function bf16ToF32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  const u32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) u32[i] = bits[i] << 16;
  return out;
}

/**
 * Float32 to bfloat16 bit patterns with round-to-nearest-even; NaN stays NaN.
 *
 * @example
 * ```ts
 * import { f32ToBF16 } from "./float16.ts";
 * if (f32ToBF16(new Float32Array([1]))[0] !== 0x3f80) throw new Error("Unexpected bits");
 * ```
 */
export function f32ToBF16(data: Float32Array, out: Uint16Array = new Uint16Array(data.length)): Uint16Array {
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < u32.length; i++) {
    const u = u32[i];
    if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) {
      out[i] = (u >>> 16) | 0x40;
    } else {
      // Below NaN the sum stays under 2^32, so the shift is safe.
      out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}
