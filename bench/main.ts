/**
 * `deno task bench`: the figures the README quotes, measured side by side in one run.
 *
 * - CLIP ViT-B/16 vision graph (random weights from `adp models tiny`) at batch 1 and 8: images/s,
 *   the theoretical FLOP count, and the achieved FLOP rate beside onnxruntime's own float32 GEMM
 *   rate on this machine (the ceiling any ViT export can approach), and beside the torch-export
 *   figure reported for these machines (11.7 images/s; it cannot be produced here, no torch).
 * - Preprocessing one 900×900 PNG (decode, resize, normalise) as a share of one ViT-B/16 inference.
 *
 * - Enrollment of ViT-B/16 with K = 8 (time, peak memory) and what scoring adds to the vision graph
 *   (bench/enroll_bench.ts, in a child process).
 *
 * - Throughput with `/metrics` scraped every second as a ratio to without (bench/metrics_bench.ts).
 *
 * `deno task bench --vit-h` adds the ViT-H/14 load check (bench/vit_h.ts in a child process, so its
 * peak memory is its own). Benchmarks report; they never assert timings.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { writeRandomCheckpoint } from "../src/clip/random_checkpoint.ts";
import { getArchitecture } from "../src/clip/architectures.ts";
import type { ClipConfig } from "../src/clip/config.ts";
import { loadClip } from "../src/model/clip_model.ts";
import { GraphBuilder } from "../src/onnx/graph.ts";
import { matMul } from "../src/onnx/ops/linalg.ts";
import { writeOnnxModel } from "../src/onnx/model_file.ts";
import { createSession } from "../src/onnx/runtime.ts";
import { benchPreprocess } from "./preprocess_bench.ts";

/** Reported in the issue for a torch-exported ViT-B/16 under onnxruntime CPU on these machines. */
const TORCH_EXPORT_IMAGES_PER_S = 11.7;

const BENCH_DIR = fileURLToPath(new URL("../.cache/bench/", import.meta.url));

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Times `fn` `rounds` times after `warmup` runs; median milliseconds. */
async function time(fn: () => Promise<unknown>, rounds: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

/** Multiply–accumulates of one image through the vision tower (patch embedding, blocks, projection). */
export function visionMacs(config: ClipConfig): number {
  const { imageSize, patchSize, width, layers, mlpWidth } = config.vision;
  const patches = (imageSize / patchSize) ** 2, tokens = patches + 1;
  const embed = patches * width * 3 * patchSize * patchSize;
  const perLayer = tokens * (4 * width * width + 2 * width * mlpWidth) + 2 * tokens * tokens * width;
  return embed + layers * perLayer + width * config.embedDim;
}

async function ensureVitB16(): Promise<string> {
  const dir = join(BENCH_DIR, "vit-b-16");
  try {
    await Deno.stat(join(dir, "open_clip_model.safetensors"));
  } catch {
    console.log("writing a random ViT-B/16 checkpoint (once) …");
    await writeRandomCheckpoint(dir, { arch: "vit-b-16", layout: "openclip", dtype: "F16", seed: 0 });
  }
  return dir;
}

/** onnxruntime's float32 GEMM rate on ViT-B/16-shaped products: the ceiling for any export. */
async function gemmCeiling(): Promise<number> {
  const rows = 8 * 197, width = 768, chain = 4;
  const g = new GraphBuilder("gemm_ceiling");
  let y = g.input("x", "float32", [rows, width]);
  for (let i = 0; i < chain; i++) {
    y = matMul(
      y,
      g.initializer(`w${i}`, "float32", [width, width], new Float32Array(width * width).fill(1 / width)),
    );
  }
  g.output("y", y);
  const path = join(BENCH_DIR, "gemm.onnx");
  await writeOnnxModel(g, path);
  const session = await createSession(path, { device: "cpu", log: () => {} });
  const x = { data: new Float32Array(rows * width).fill(1), dims: [rows, width] };
  const ms = await time(() => session.run({ x }), 20, 3);
  await session.dispose();
  return (2 * chain * rows * width * width) / (ms / 1000) / 1e9;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { "vit-h": { type: "boolean" } } });
  await Deno.mkdir(BENCH_DIR, { recursive: true });
  const config = getArchitecture("vit-b-16");
  const flops = 2 * visionMacs(config);
  const clip = await loadClip(await ensureVitB16(), {
    device: "cpu",
    cacheDir: join(BENCH_DIR, "cache"),
    log: () => {},
  });
  const rows: string[][] = [];
  let singleMs = 0;
  try {
    const size = config.vision.imageSize;
    for (const batch of [1, 8]) {
      const pixels = new Float32Array(batch * 3 * size * size).map((_, i) => Math.sin(i) * 1.5);
      const ms = await time(() => clip.encodeImage(pixels, batch), batch === 1 ? 15 : 4);
      if (batch === 1) singleMs = ms;
      const ips = (batch * 1000) / ms;
      rows.push([
        `ViT-B/16 vision, batch ${batch}`,
        `${ips.toFixed(2)} images/s`,
        `${(ms / batch).toFixed(1)} ms/image`,
        `${((flops * ips) / 1e9).toFixed(0)} GFLOP/s`,
        `${(ips / TORCH_EXPORT_IMAGES_PER_S).toFixed(2)}× torch export`,
      ]);
    }
  } finally {
    await clip.dispose();
  }
  const ceiling = await gemmCeiling();
  rows.push(["onnxruntime float32 GEMM (768×768)", "", "", `${ceiling.toFixed(0)} GFLOP/s`, "ceiling"]);
  rows.push([
    "torch export (reported, not run here)",
    `${TORCH_EXPORT_IMAGES_PER_S} images/s`,
    "",
    `${((flops * TORCH_EXPORT_IMAGES_PER_S) / 1e9).toFixed(0)} GFLOP/s`,
    "",
  ]);

  const prep = await benchPreprocess();
  rows.push([
    "preprocess 900×900 PNG → 224 crop",
    `${prep.msPerImage.toFixed(2)} ms`,
    `decode ${prep.decodeMs.toFixed(2)} · resize ${prep.resizeMs.toFixed(2)} ms`,
    "",
    `${((prep.msPerImage / singleMs) * 100).toFixed(1)}% of one inference`,
  ]);

  console.log(`\nViT-B/16 vision tower: ${(flops / 1e9).toFixed(2)} GFLOP per image (theoretical, 2·MACs)`);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());

  console.log();
  await runChild("enroll_bench.ts");
  await runChild("nats_bench.ts");
  await runChild("metrics_bench.ts");
  if (values["vit-h"]) await runChild("vit_h.ts");
}

/** Runs a bench script in its own process, so that its peak memory is its own. */
async function runChild(script: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", fileURLToPath(new URL(`./${script}`, import.meta.url))],
    stdout: "inherit",
    stderr: "inherit",
  });
  const { code } = await child.output();
  if (code !== 0) throw new Error(`bench/${script} failed with exit code ${code}`);
}

if (import.meta.main) await main();
