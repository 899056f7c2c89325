/**
 * Enrollment of a ViT-B/16-sized model (random weights) with K = 8 real bottle images, end to end
 * with the default settings: wall time and this process's peak resident memory; then what scoring
 * adds to the bare vision graph on the same frames at each precision (the profile enrolled at fp32,
 * scored through a vision graph of each precision; vision and scoring alternate, round by round).
 *
 * Run by `deno task bench` in its own process, so the peak is enrollment's own. Needs the BPE
 * vocabulary and the images from ../shared; says so and skips without them.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { writeRandomCheckpoint } from "../src/clip/random_checkpoint.ts";
import { decodeImage } from "../src/image/decode.ts";
import { type ClipModel, loadClip, type Precision } from "../src/model/mod.ts";
import type { StationProfile } from "../src/adp/profile.ts";
import { enroll } from "../src/adp/enroll.ts";
import { createScorer } from "../src/adp/scorer.ts";
import { prepareFrame } from "../src/adp/frame_input.ts";
import { median } from "./vision_bench.ts";
import { retainFreedMemory } from "../src/allocator.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = join(ROOT, "..", "shared");
const VOCAB = join(SHARED, "fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz");
const BOTTLE = join(SHARED, "datasets/mvtec-ad/bottle");
const DIR = join(ROOT, ".cache/bench/vit-b-16");
const CACHE = join(ROOT, ".cache/bench/cache");
const PRECISIONS: readonly Precision[] = ["fp32", "int8", "fp16"];

function peakRssGiB(): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? 0);
  return kb / 2 ** 20;
}

async function main(): Promise<void> {
  if (!existsSync(VOCAB) || !existsSync(BOTTLE)) {
    console.log(`enrollment bench skipped: ${SHARED} (vocabulary and bottle images) is absent`);
    return;
  }
  if (!existsSync(join(DIR, "open_clip_model.safetensors"))) {
    await writeRandomCheckpoint(DIR, { arch: "vit-b-16", layout: "openclip", dtype: "F16", seed: 0 });
  }
  await copyFile(VOCAB, join(DIR, "bpe_simple_vocab_16e6.txt.gz"));
  const clip = await loadClip(DIR, {
    device: "cpu",
    cacheDir: CACHE,
    log: () => {},
  });
  try {
    const read = (f: string) => Deno.readFile(join(BOTTLE, f));
    const shots = await Promise.all(
      Array.from({ length: 8 }, (_, i) => read(`train/good/${String(i).padStart(3, "0")}.png`)),
    );
    const t = performance.now();
    let lastStage = "";
    const profile = await enroll(clip, shots, {
      seed: 0,
      label: "bottle",
      onProgress: (p) => {
        if (p.stage !== lastStage) {
          console.log(`  ${p.stage} at ${((performance.now() - t) / 1000).toFixed(0)} s`);
        }
        lastStage = p.stage;
      },
    });
    const enrollS = (performance.now() - t) / 1000;
    console.log(
      `enrollment, ViT-B/16, K = 8, ${profile.meta.enrollment.steps} steps per concept: ${
        enrollS.toFixed(0)
      } s, peak RSS ${peakRssGiB().toFixed(2)} GiB`,
    );

    const frames = await Promise.all(
      ["test/good/000.png", "test/good/001.png", "test/broken_large/000.png", "test/contamination/000.png"]
        .map(async (f) => decodeImage(await read(f))),
    );
    for (const precision of PRECISIONS) {
      const reduced = precision === "fp32"
        ? clip
        : await loadClip(DIR, { device: "cpu", precision, cacheDir: CACHE, log: () => {} });
      try {
        await benchScoring(reduced, profile, frames);
      } finally {
        if (reduced !== clip) await reduced.dispose();
      }
    }
  } finally {
    await clip.dispose();
  }
}

/**
 * Scoring (prepared frames → verdict + map) beside the bare vision graph, as the service scores:
 * frames prepared (resized, normalised) in its decode workers, then one vision pass and both
 * branches. The bare graph runs on the same prepared pixels.
 */
async function benchScoring(
  clip: ClipModel,
  profile: StationProfile,
  frames: Awaited<ReturnType<typeof decodeImage>>[],
): Promise<void> {
  const scorer = createScorer(clip, profile);
  try {
    const prepared = frames.map((f) => prepareFrame(f, scorer.preparation));
    const per = prepared[0].clipPixels.length;
    const pixels = new Float32Array(frames.length * per);
    prepared.forEach((p, i) => pixels.set(p.clipPixels, i * per));
    await scorer.scorePrepared(prepared);
    await clip.encodeImage(pixels, frames.length);
    // Alternating rounds, so that other load on the machine shifts both alike; the order flips every
    // round, so that neither side always runs in the wake of the other.
    const rounds = 16;
    const ratios: number[] = [], visionMs: number[] = [], scoreMs: number[] = [];
    const timed = async (fn: () => Promise<unknown>, into: number[]) => {
      const t = performance.now();
      await fn();
      into.push((performance.now() - t) / frames.length);
    };
    const vision = () => clip.encodeImage(pixels, frames.length);
    const scoring = () => scorer.scorePrepared(prepared);
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        await timed(vision, visionMs);
        await timed(scoring, scoreMs);
      } else {
        await timed(scoring, scoreMs);
        await timed(vision, visionMs);
      }
      ratios.push(visionMs[i] / scoreMs[i]);
    }
    const t = performance.now();
    for (const f of frames) prepareFrame(f, scorer.preparation);
    const prepareMs = (performance.now() - t) / frames.length;
    console.log(
      `${clip.precision}: scoring (prepared frames → verdict + map) ${
        median(scoreMs).toFixed(1)
      } ms/frame vs ` +
        `bare vision graph ${median(visionMs).toFixed(1)} ms/frame: throughput ${
          median(ratios).toFixed(2)
        }× the vision graph's; preparing a 900×900 frame (in the service's decode workers): ${
          prepareMs.toFixed(1)
        } ms`,
    );
  } finally {
    await scorer.dispose();
  }
}

if (import.meta.main) {
  retainFreedMemory();
  await main();
}
