/**
 * Stable Diffusion pseudo-anomalies at enrollment's scale with the tiny models: K = 8 bottle shots,
 * L = 2 · max(16, 4K) = 64 SDEdit images (training and validation sets) through the enrollment's
 * crop, timed at SD's defaults (512 px, 25 steps, strength 0.6, guidance 7.5) and at the tests'
 * settings (32 px, 8 steps, strength 0.5), alternately; then a whole K = 8 enrollment with the tiny
 * oracle CLIP, procedural and sd alternately. The tiny models' weights are random: this times the
 * pipeline (scheduler, resizes, foreground blends, onnxruntime calls), not SD 2.1's UNet.
 *
 *   deno run --allow-all bench/sd_bench.ts [--rounds 1] [--enroll-steps 40]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { loadStableDiffusion, writeTinyStableDiffusion } from "../src/diffusion/mod.ts";
import { createSdSynthesizer, makePseudoAnomalies, SD_DEFAULTS } from "../src/adp/synth/mod.ts";
import { enroll } from "../src/adp/enroll.ts";
import { decodeImage } from "../src/image/decode.ts";
import { loadClip } from "../src/model/mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = join(ROOT, "..", "shared");
const BOTTLE = join(SHARED, "datasets/mvtec-ad/bottle/train/good");
const ORACLE = join(SHARED, "fixtures/clip-oracle");
const DIR = join(ROOT, ".cache/bench/sd-tiny");
const K = 8;
const L = 2 * Math.max(16, 4 * K);
const SETTINGS = {
  defaults: { ...SD_DEFAULTS },
  tests: { strength: 0.5, steps: 8, guidance: 3, size: 32, batchSize: 4 },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: "string" }, "enroll-steps": { type: "string" } },
  });
  const rounds = Number(values.rounds ?? 1);
  const enrollSteps = Number(values["enroll-steps"] ?? 40);
  if (!existsSync(BOTTLE)) return console.log(`sd bench skipped: ${BOTTLE} is absent`);
  if (!existsSync(join(DIR, "model_index.json"))) await writeTinyStableDiffusion(DIR, { seed: 0 });
  const files = Array.from({ length: K }, (_, i) => join(BOTTLE, `${String(i).padStart(3, "0")}.png`));
  const bytes = await Promise.all(files.map((f) => Deno.readFile(f)));
  const shots = await Promise.all(bytes.map((b) => decodeImage(b)));
  const diffusion = await loadStableDiffusion(DIR, {
    device: "cpu",
    cacheDir: join(DIR, "cache"),
    log: () => {},
  });
  const crop = { size: 96, scale: [0.5, 1] as [number, number], ratio: [3 / 4, 4 / 3] as [number, number] };
  const times: Record<string, number[]> = { defaults: [], tests: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, settings] of Object.entries(SETTINGS)) {
      const t = performance.now();
      await makePseudoAnomalies(shots, {
        count: L,
        seed: r,
        crop,
        synthesizer: createSdSynthesizer({ model: diffusion, word: "bottle", ...settings }),
      });
      times[name].push(performance.now() - t);
    }
  }
  for (const [name, ms] of Object.entries(times)) {
    const s = SETTINGS[name as keyof typeof SETTINGS];
    console.log(
      `SDEdit, tiny SD, ${L} images from K = ${K} (${s.size} px, ${s.steps} steps, strength ${s.strength}): ` +
        ms.map((v) => `${(v / 1000).toFixed(1)} s`).join(", "),
    );
  }

  const clipDir = join(DIR, "clip");
  if (!existsSync(join(clipDir, "config.json"))) {
    await Deno.mkdir(clipDir, { recursive: true });
    for (const f of ["config.json", "model.safetensors"]) {
      await copyFile(join(ORACLE, "tiny-gelu-hf", f), join(clipDir, f));
    }
    const vocab = "bpe_simple_vocab_16e6.txt.gz";
    await copyFile(join(ORACLE, "tokenizer", vocab), join(clipDir, vocab));
  }
  const clip = await loadClip(clipDir, { device: "cpu", cacheDir: join(DIR, "cache"), log: () => {} });
  try {
    for (const synth of ["procedural", "sd"] as const) {
      const t = performance.now();
      const profile = await enroll(clip, bytes, {
        steps: enrollSteps,
        synth,
        diffusion,
        sdedit: SETTINGS.defaults,
        log: (line) => console.log(line),
      });
      console.log(
        `enroll K = ${K}, tiny CLIP, ${enrollSteps} steps per concept, synth ${profile.meta.enrollment.synthesizer}: ` +
          `${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    await clip.dispose();
    await diffusion.release();
  }
}

if (import.meta.main) await main();
