/**
 * `deno task demo`: the richest end-to-end run that exists, on real images. Today: a CLIP
 * checkpoint (ADP_MODEL_DIR if set, else a randomly initialised one generated here and said so)
 * scores MVTec-AD bottle images against normal and anomalous prompts. It grows into the NATS demo
 * (service, simulated camera, enrollment, events) as those parts land.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { copyFile, readdir } from "node:fs/promises";
import { writeRandomCheckpoint } from "./clip/tiny_checkpoint.ts";
import { preprocessImage } from "./clip/preprocess.ts";
import { loadClip } from "./model/clip_model.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = join(ROOT, "..", "shared");
const VOCAB = join(SHARED, "fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz");
const BOTTLE = join(SHARED, "datasets/mvtec-ad/bottle");

async function ensureModel(): Promise<string> {
  const configured = Deno.env.get("ADP_MODEL_DIR");
  if (configured) {
    console.log(`model: ${configured} (ADP_MODEL_DIR)`);
    return configured;
  }
  const dir = join(ROOT, "models", "demo-tiny");
  if (!existsSync(join(dir, "open_clip_model.safetensors"))) {
    await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip", seed: 0 });
  }
  if (!existsSync(join(dir, "bpe_simple_vocab_16e6.txt.gz"))) {
    if (!existsSync(VOCAB)) {
      throw new Error(
        `No tokenizer vocabulary: set ADP_MODEL_DIR to a pulled checkpoint, or place ../shared beside the checkout`,
      );
    }
    await copyFile(VOCAB, join(dir, "bpe_simple_vocab_16e6.txt.gz"));
  }
  console.log(
    `model: no ADP_MODEL_DIR set, so a randomly initialised tiny CLIP (${dir}) stands in; its scores are ` +
      `not meaningful, only the pipeline is. Pull real weights with \`deno task adp models pull ViT-B-16:openai\`.`,
  );
  return dir;
}

async function demoImages(): Promise<string[]> {
  if (!existsSync(BOTTLE)) throw new Error(`No demo images: ${BOTTLE} is absent`);
  const pick = async (sub: string, n: number) =>
    (await readdir(join(BOTTLE, sub))).sort().slice(0, n).map((f) => join(BOTTLE, sub, f));
  return [
    ...await pick("test/good", 2),
    ...await pick("test/broken_large", 2),
    ...await pick("test/contamination", 2),
  ];
}

async function main(): Promise<void> {
  const clip = await loadClip(await ensureModel(), { device: "auto" });
  try {
    const prompts = ["a photo of a flawless bottle.", "a photo of a damaged bottle."];
    const text = await clip.encodeText(prompts);
    const size = clip.config.vision.imageSize;
    for (const file of await demoImages()) {
      const started = performance.now();
      const pixels = await preprocessImage(await Deno.readFile(file), {
        size,
        mode: "crop",
        mean: clip.config.preprocess.mean,
        std: clip.config.preprocess.std,
      });
      const logits = clip.logitsPerImage(await clip.encodeImage(pixels, 1), text);
      const pDamaged = 1 / (1 + Math.exp(logits[0] - logits[1]));
      const ms = performance.now() - started;
      console.log(
        `${file.slice(BOTTLE.length + 1).padEnd(34)} P(damaged) ${pDamaged.toFixed(3)}  ${ms.toFixed(0)} ms`,
      );
    }
  } finally {
    await clip.dispose();
  }
}

if (import.meta.main) await main();
