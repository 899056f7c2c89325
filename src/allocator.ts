/**
 * The process's C allocator, told to keep the memory it frees. Every model run hands its outputs to
 * JavaScript in freshly allocated buffers (onnxruntime-node copies each output into a new
 * ArrayBuffer, even into a preallocated one), and a scoring pass reads megabytes of them per batch.
 * glibc returns large freed blocks to the kernel, so the next batch faults its pages in again; on a
 * virtual machine that costs milliseconds per megabyte (measured in the README, Precision).
 * Kept, the memory is reused.
 *
 * @module
 */

/** glibc's `mallopt` parameters (malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** Blocks below this come from the heap, not from a mapping of their own (glibc's largest). */
export const MMAP_THRESHOLD_BYTES = 32 * 2 ** 20;
/** Free memory at the heap's top kept for reuse before any is returned to the kernel. */
export const TRIM_THRESHOLD_BYTES = 256 * 2 ** 20;

/**
 * Sets glibc's allocator to keep freed memory ({@linkcode MMAP_THRESHOLD_BYTES},
 * {@linkcode TRIM_THRESHOLD_BYTES}). Entry points that run models call it once at start.
 *
 * @returns whether it took effect: false off Linux, without glibc, or without the FFI permission
 */
export function retainFreedMemory(): boolean {
  if (Deno.build.os !== "linux") return false;
  let libc;
  try {
    libc = Deno.dlopen("libc.so.6", { mallopt: { parameters: ["i32", "i32"], result: "i32" } });
  } catch {
    return false;
  }
  try {
    return libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1 &&
      libc.symbols.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) === 1;
  } finally {
    libc.close();
  }
}
