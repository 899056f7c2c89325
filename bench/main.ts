/**
 * `deno task bench`: the figures the README quotes, measured side by side in one run.
 *
 * - CLIP ViT-B/16 vision graph (random weights from `adp models tiny`) at fp32, int8 and fp16 beside
 *   torch's own export of OpenAI's vision tower (bench/vision_bench.ts), timed alternately in this
 *   run at batch 1 and 8: images/s, the achieved FLOP rate beside onnxruntime's own float32 GEMM rate
 *   on this machine (the ceiling any float32 export can approach), and the ratios fp32 / torch and
 *   int8 (fp16) / fp32.
 * - The proxy patch backbone as given and at int8, alternating (bench/backbone_bench.ts).
 * - Preprocessing one 900×900 PNG (decode, resize, normalise) as a share of one ViT-B/16 inference.
 *
 * - Enrollment of ViT-B/16 with K = 8 (time, peak memory) and what scoring adds to the vision graph
 *   at each precision (bench/enroll_bench.ts, in a child process).
 *
 * - Bridge latency: a result on NATS → the OPC UA data change and the Modbus coil a PLC sees
 *   (bench/bridge_bench.ts, in a child process).
 *
 * - Throughput with `/metrics` scraped every second as a ratio to without (bench/metrics_bench.ts).
 *
 * `deno task bench --vision` stops after the vision table; `--vit-h` adds the ViT-H/14 load check (bench/vit_h.ts in a child process, so its
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
import { type ClipModel, loadClip, type Precision } from "../src/model/mod.ts";
import { GraphBuilder } from "../src/onnx/graph.ts";
import { matMul } from "../src/onnx/ops/linalg.ts";
import { writeOnnxModel } from "../src/onnx/model_file.ts";
import { createSession } from "../src/onnx/runtime.ts";
import { benchBackbone } from "./backbone_bench.ts";
import { benchPreprocess } from "./preprocess_bench.ts";
import {
  alternate,
  clipContender,
  type Contender,
  median,
  torchContender,
  torchReference,
  torchReferencePath,
  visionRows,
} from "./vision_bench.ts";
import { retainFreedMemory } from "../src/allocator.ts";

const PRECISIONS: readonly Precision[] = ["fp32", "int8", "fp16"];
/** Rounds per batch size: batch 8 runs take seconds each on a two-core machine. */
const ROUNDS: Record<number, number> = { 1: 15, 8: 5 };

const BENCH_DIR = fileURLToPath(new URL("../.cache/bench/", import.meta.url));

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

/**
 * Multiply–accumulates of one image through the vision tower (patch embedding, blocks, projection).
 * `classTokenLastBlock`: the last block as our graph runs it (every token's key and value, the rest
 * for the class token alone); torch's export runs it on every token.
 */
export function visionMacs(config: ClipConfig, classTokenLastBlock = false): number {
  const { imageSize, patchSize, width, layers, mlpWidth } = config.vision;
  const patches = (imageSize / patchSize) ** 2, tokens = patches + 1;
  const embed = patches * width * 3 * patchSize * patchSize;
  const perLayer = tokens * (4 * width * width + 2 * width * mlpWidth) + 2 * tokens * tokens * width;
  const lastLayer = classTokenLastBlock
    ? tokens * 2 * width * width + (2 * width * width + 2 * width * mlpWidth) + 2 * tokens * width
    : perLayer;
  return embed + (layers - 1) * perLayer + lastLayer + width * config.embedDim;
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

/**
 * The vision table: our graph at every precision and torch's export, alternating, batch 1 (fp32
 * and torch only: the single-frame latency comparison) and batch 8 (all).
 */
async function benchVision(
  flops: (contender: string) => number,
): Promise<{ rows: string[][]; singleMs: number }> {
  const reference = await torchReference(torchReferencePath(BENCH_DIR));
  if ("skipped" in reference) console.log(`torch reference skipped: ${reference.skipped}`);
  const torch = "path" in reference ? await torchContender(reference.path) : undefined;
  const clips: ClipModel[] = [];
  try {
    const dir = await ensureVitB16();
    for (const precision of PRECISIONS) {
      clips.push(
        await loadClip(dir, { device: "cpu", precision, cacheDir: join(BENCH_DIR, "cache"), log: () => {} }),
      );
    }
    const ours = clips.map((c) => clipContender(c.precision, c));
    const rows: string[][] = [];
    let singleMs = 0;
    for (const batch of [1, 8]) {
      const contenders: Contender[] = [...(batch === 1 ? ours.slice(0, 1) : ours), ...(torch ? [torch] : [])];
      const times = await alternate(contenders, batch, ROUNDS[batch]);
      if (batch === 1) singleMs = median(times.fp32);
      rows.push(...visionRows(times, batch, flops, PRECISIONS));
    }
    return { rows, singleMs };
  } finally {
    for (const c of clips) await c.dispose();
    await torch?.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { "vit-h": { type: "boolean" }, vision: { type: "boolean" } },
  });
  await Deno.mkdir(BENCH_DIR, { recursive: true });
  const config = getArchitecture("vit-b-16");
  const flops = 2 * visionMacs(config), ourFlops = 2 * visionMacs(config, true);
  const { rows, singleMs } = await benchVision((name) => name === "torch" ? flops : ourFlops);
  const ceiling = await gemmCeiling();
  rows.push(["onnxruntime float32 GEMM (768×768)", "", "", `${ceiling.toFixed(0)} GFLOP/s`, "ceiling"]);
  rows.push(...await benchBackbone());

  const prep = await benchPreprocess();
  rows.push([
    "preprocess 900×900 PNG → 224 crop",
    `${prep.msPerImage.toFixed(2)} ms`,
    `decode ${prep.decodeMs.toFixed(2)} · resize ${prep.resizeMs.toFixed(2)} ms`,
    "",
    `${((prep.msPerImage / singleMs) * 100).toFixed(1)}% of one fp32 inference`,
  ]);

  console.log(
    `\nViT-B/16 vision tower: ${(flops / 1e9).toFixed(2)} GFLOP per image (theoretical, 2·MACs); ours ${
      (ourFlops / 1e9).toFixed(2)
    } (its last block on the class token alone)`,
  );
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  if (values.vision) return;

  console.log();
  await runChild("enroll_bench.ts");
  await runChild("nats_bench.ts");
  await runChild("bridge_bench.ts");
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

if (import.meta.main) {
  retainFreedMemory();
  await main();
}
