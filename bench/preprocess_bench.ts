/**
 * Times CLIP preprocessing of one 900×900 PNG camera frame (decode, resize, normalise), the part of
 * every frame's cost that runs before the vision graph.
 *
 * Run alone: `deno run --allow-read bench/preprocess_bench.ts`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { decodeImage } from "../src/image/decode.ts";
import { resizeForClip } from "../src/image/resize_bicubic.ts";
import { preprocessImage } from "../src/clip/preprocess.ts";

const FRAME = fileURLToPath(new URL("../../shared/fixtures/preprocess/images/0.png", import.meta.url));
const WARMUP = 10;
const ROUNDS = 40;

/** Per-image milliseconds: the whole pipeline, and decode and resize alone (medians). */
export interface PreprocessBenchResult {
  msPerImage: number;
  decodeMs: number;
  resizeMs: number;
}

/**
 * Measures `preprocessImage` (crop 224) on the fixture frame, and its decode and resize steps.
 *
 * @returns median milliseconds per image for the pipeline, decoding and resizing
 *
 * @example Run the benchmark
 * ```ts ignore
 * const { msPerImage } = await benchPreprocess();
 * console.log(msPerImage);
 * ```
 */
export async function benchPreprocess(): Promise<PreprocessBenchResult> {
  const bytes = await Deno.readFile(FRAME);
  const image = await decodeImage(bytes);
  const opts = { size: 224, mode: "crop" } as const;
  const decodeMs = await median(() => decodeImage(bytes));
  const resizeMs = await median(() => resizeForClip(image, opts));
  const msPerImage = await median(() => preprocessImage(bytes, opts));
  return { msPerImage, decodeMs, resizeMs };
}

async function median(f: () => unknown): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

if (import.meta.main) {
  const r = await benchPreprocess();
  console.log(
    `preprocess 900×900 PNG → 224: ${r.msPerImage.toFixed(2)} ms/image ` +
      `(decode ${r.decodeMs.toFixed(2)} ms, resize ${r.resizeMs.toFixed(2)} ms)`,
  );
}
