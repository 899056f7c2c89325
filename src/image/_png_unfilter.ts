/**
 * PNG row un-filtering in kernel memory: None, Sub, Up and Average in JavaScript, Paeth in a small
 * WebAssembly SIMD kernel (un-filtering in plain JavaScript alone took 6–12 ms of a 900×900 frame).
 *
 * @module
 */
import { ImageError } from "../errors.ts";
import { type WasmKernel, WasmKernels } from "./_wasm.ts";

/**
 * Reverses one row's PNG filter in kernel memory: the filter byte at `at`, the filtered bytes after it,
 * the result to `cur`, given the unfiltered row above at `prior`.
 */
export function unfilterRow(
  heap: Uint8Array,
  run: Record<string, WasmKernel>,
  at: number,
  cur: number,
  prior: number,
  rowBytes: number,
  bpp: number,
): void {
  const filter = heap[at];
  const src = at + 1;
  switch (filter) {
    case 0:
      heap.copyWithin(cur, src, src + rowBytes);
      break;
    case 1:
      for (let i = 0; i < bpp; i++) heap[cur + i] = heap[src + i];
      for (let i = bpp; i < rowBytes; i++) heap[cur + i] = heap[src + i] + heap[cur + i - bpp];
      break;
    case 2:
      for (let i = 0; i < rowBytes; i++) heap[cur + i] = heap[src + i] + heap[prior + i];
      break;
    case 3:
      for (let i = 0; i < bpp; i++) heap[cur + i] = heap[src + i] + (heap[prior + i] >> 1);
      for (let i = bpp; i < rowBytes; i++) {
        heap[cur + i] = heap[src + i] + ((heap[cur + i - bpp] + heap[prior + i]) >> 1);
      }
      break;
    case 4:
      run.paeth(src, prior, cur, rowBytes, bpp);
      break;
    default:
      throw new ImageError(`PNG image data is corrupt: unknown row filter ${filter}`);
  }
}

/**
 * One Paeth step in kernel text: with the pixel above in `$b`, the left and upper-left pixels in
 * `$a{row}`/`$c{row}`, predicts whichever of a, b, c is nearest to a + b - c (ties in that order),
 * adds the filtered bytes at `$raw{row} + $i` and stores the pixel at `$cur{row} + $i`. A pixel (up to
 * 8 bytes) sits in i16 lanes; `bitselect` keeps the choice free of branches.
 */
function paethStep(row: string): string {
  return `
    local.get $b local.get $c${row} i16x8.sub local.tee $d i16x8.abs local.set $pa ;; |b - c|
    local.get $a${row} local.get $c${row} i16x8.sub local.tee $e i16x8.abs local.set $pb ;; |a - c|
    local.get $d local.get $e i16x8.add i16x8.abs local.set $pc ;; |a + b - 2c|
    local.get $a${row}
    local.get $b local.get $c${row} local.get $pb local.get $pc i16x8.le_s v128.bitselect
    local.get $pa local.get $pb local.get $pc i16x8.min_s i16x8.le_s
    v128.bitselect
    local.get $raw${row} local.get $i i32.add v128.load64_zero i16x8.extend_low_i8x16_u
    i16x8.add local.get $mask v128.and local.set $a${row} ;; also the next pixel's left neighbour
    local.get $cur${row} local.get $i i32.add
    local.get $a${row} local.get $a${row} i8x16.narrow_i16x8_u v128.store64_lane 0
    local.get $b local.set $c${row}
  `;
}

/**
 * Paeth un-filtering of one row. Each pixel waits on the one before, so a row is latency-bound
 * (≈ 10 dependent vector operations a pixel) whatever the width of the vectors.
 */
const PAETH_KERNEL = `
  i32.const 0 i32x4.splat local.tee $a1 local.set $c1
  i32.const 255 i16x8.splat local.set $mask
  loop
    local.get $prior local.get $i i32.add v128.load64_zero i16x8.extend_low_i8x16_u local.set $b
    ${paethStep("1")}
    local.get $i local.get $bpp i32.add local.tee $i
    local.get $rowBytes i32.lt_s br_if 0
  end
`;

/**
 * Paeth un-filtering of two consecutive rows in one pass: the second row's "above" is the first
 * row's pixel just made, so the two dependency chains interleave and a pixel pair costs little more
 * than one pixel did (saves ≈ 0.8 ms on a 900×900 frame). The first row's 8-byte stores spill past its end,
 * so it must not sit right before the second row: callers give it a row of its own.
 */
const PAETH2_KERNEL = `
  i32.const 0 i32x4.splat local.tee $a1 local.tee $c1 local.tee $a2 local.set $c2
  i32.const 255 i16x8.splat local.set $mask
  loop
    local.get $prior local.get $i i32.add v128.load64_zero i16x8.extend_low_i8x16_u local.set $b
    ${paethStep("1")}
    local.get $a1 local.set $b
    ${paethStep("2")}
    local.get $i local.get $bpp i32.add local.tee $i
    local.get $rowBytes i32.lt_s br_if 0
  end
`;

let pngKernels: WasmKernels | undefined;

/** The Paeth kernels, compiled on first use. */
export function pngKernelsOnce(): WasmKernels {
  const vectors = (...names: string[]) => Object.fromEntries(names.map((n) => [n, "v128" as const]));
  return pngKernels ??= new WasmKernels([
    {
      name: "paeth",
      params: ["raw1", "prior", "cur1", "rowBytes", "bpp"],
      locals: { i: "i32", ...vectors("a1", "c1", "b", "d", "e", "pa", "pb", "pc", "mask") },
      body: PAETH_KERNEL,
    },
    {
      name: "paeth2",
      params: ["raw1", "raw2", "prior", "cur1", "cur2", "rowBytes", "bpp"],
      locals: { i: "i32", ...vectors("a1", "c1", "a2", "c2", "b", "d", "e", "pa", "pb", "pc", "mask") },
      body: PAETH2_KERNEL,
    },
  ]);
}
