/**
 * One device's figures for bench/gpu-check.sh: the ViT-B/16 vision graph's frames/s (batch 8),
 * scoring's, and one K = 8 enrollment, on the provider and at the precision (`--precision`) asked for. When the provider cannot load, onnxruntime falls
 * back to the CPU; this script then says so plainly instead of reporting CPU figures as the GPU's.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { writeRandomCheckpoint } from "../src/clip/random_checkpoint.ts";
import { loadClip } from "../src/model/clip_model.ts";
import { parsePrecision } from "../src/model/precision.ts";
import { enroll } from "../src/adp/enroll.ts";
import { createScorer } from "../src/adp/scorer.ts";
import { prepareFrame } from "../src/adp/frame_input.ts";
import { decodeImage } from "../src/image/decode.ts";
import { type Device, DEVICES } from "../src/onnx/runtime.ts";
import { retainFreedMemory } from "../src/allocator.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIR = join(ROOT, ".cache/bench/vit-b-16");

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      device: { type: "string" },
      steps: { type: "string" },
      shared: { type: "string" },
      // Where the scorer's patch search runs (default: beside the model), to compare placements.
      "patch-device": { type: "string" },
      precision: { type: "string" },
    },
  });
  const device = (values.device ?? "cpu") as Device;
  if (!DEVICES.includes(device)) throw new Error(`Unknown device ${device}`);
  if (!existsSync(join(DIR, "open_clip_model.safetensors"))) {
    await writeRandomCheckpoint(DIR, { arch: "vit-b-16", layout: "openclip", dtype: "F16", seed: 0 });
  }
  const shared = values.shared ?? join(ROOT, "..", "shared");
  const vocab = join(shared, "fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz");
  if (existsSync(vocab)) await copyFile(vocab, join(DIR, "bpe_simple_vocab_16e6.txt.gz"));
  const lines: string[] = [];
  const precision = parsePrecision(values.precision ?? "fp32");
  const clip = await loadClip(DIR, {
    device,
    precision,
    cacheDir: join(ROOT, ".cache/bench/cache"),
    log: (l) => lines.push(l),
  });
  try {
    const ran = clip.provider;
    for (const l of lines.filter((l) => l.startsWith("onnxruntime:"))) console.log(`[${device}] ${l}`);
    if (device !== "cpu" && ran !== device) {
      console.log(
        `[${device}] FAILED to load: see the line above for why; CPU figures are not repeated here`,
      );
      return;
    }
    const pixels = new Float32Array(8 * 3 * 224 * 224).map((_, i) => Math.sin(i));
    await clip.encodeImage(pixels, 8);
    const rounds = 5;
    let t = performance.now();
    for (let i = 0; i < rounds; i++) await clip.encodeImage(pixels, 8);
    const fps = (8 * rounds * 1000) / (performance.now() - t);
    if (device !== "cpu") {
      console.log(`[${device}] ${await agreementWithCpu(pixels, await clip.encodeImage(pixels, 8))}`);
    }
    const shots = Array.from(
      { length: 8 },
      (_, i) => Deno.readFileSync(join(shared, `datasets/mvtec-ad/bottle/train/good/00${i}.png`)),
    );
    t = performance.now();
    const steps = Number(values.steps ?? 40);
    const profile = await enroll(clip, shots, { steps, seed: 0 });
    const enrollS = (performance.now() - t) / 1000;
    // Scoring as the service does it: frames already prepared (by its decode workers), one vision
    // pass per batch of 8, then the text and patch branches and the maps.
    const patchDevice = values["patch-device"] as Device | undefined;
    if (patchDevice && !DEVICES.includes(patchDevice)) throw new Error(`Unknown device ${patchDevice}`);
    const scorer = createScorer(clip, profile, patchDevice ? { device: patchDevice } : {});
    try {
      const frames = await Promise.all(
        shots.map(async (b) => prepareFrame(await decodeImage(b), scorer.preparation)),
      );
      await scorer.scorePrepared(frames);
      t = performance.now();
      for (let i = 0; i < rounds; i++) await scorer.scorePrepared(frames);
      const scoredFps = (frames.length * rounds * 1000) / (performance.now() - t);
      console.log(
        `[${device} ${precision}] vision ViT-B/16 batch 8: ${
          fps.toFixed(1)
        } frames/s · scoring (vision + text + patch` +
          `${patchDevice ? ` on ${patchDevice}` : ""} + map, batch 8): ${
            scoredFps.toFixed(1)
          } frames/s · enrollment K=8, ${steps} steps: ${enrollS.toFixed(1)} s`,
      );
    } finally {
      await scorer.dispose();
    }
  } finally {
    await clip.dispose();
  }
}

/** How far the provider's image features are from the CPU's on the same pixels (fp32 both ways). */
async function agreementWithCpu(pixels: Float32Array, features: Float32Array): Promise<string> {
  const cpu = await loadClip(DIR, {
    device: "cpu",
    cacheDir: join(ROOT, ".cache/bench/cache"),
    log: () => {},
  });
  try {
    const reference = await cpu.encodeImage(pixels, 8);
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < reference.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(features[i] - reference[i]));
      maxRef = Math.max(maxRef, Math.abs(reference[i]));
    }
    return `image features vs cpu: max abs difference ${maxAbs.toExponential(2)} (largest value ${
      maxRef.toFixed(3)
    })`;
  } finally {
    await cpu.dispose();
  }
}

if (import.meta.main) {
  retainFreedMemory();
  await main();
}
