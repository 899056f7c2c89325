/**
 * ViT-H/14 at full size (random weights, ~1 G parameters, 1.9 GB in F16): writes the checkpoint once,
 * then measures a cold load (graph build and write, session creation), a warm load (graphs from the
 * cache), one image through the vision graph, and this process's peak resident memory.
 *
 * Run by `deno task bench --vit-h`, in its own process so the peak is its own.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { writeRandomCheckpoint } from "../src/clip/random_checkpoint.ts";
import { loadClip } from "../src/model/clip_model.ts";
import { retainFreedMemory } from "../src/allocator.ts";

const DIR = fileURLToPath(new URL("../.cache/bench/vit-h-14/", import.meta.url));

function peakRssGiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 2 ** 20;
}

async function main(): Promise<void> {
  let t = performance.now();
  try {
    await Deno.stat(join(DIR, "open_clip_model.safetensors"));
  } catch {
    await writeRandomCheckpoint(DIR, { arch: "vit-h-14", layout: "openclip", dtype: "F16", seed: 0 });
    console.log(`ViT-H/14 checkpoint written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const cacheDir = await Deno.makeTempDir({ prefix: "adp-vith-cache-" });
  try {
    t = performance.now();
    let clip = await loadClip(DIR, { device: "cpu", cacheDir, log: (l) => console.log(`  ${l}`) });
    const coldS = (performance.now() - t) / 1000;
    await clip.dispose();
    t = performance.now();
    clip = await loadClip(DIR, { device: "cpu", cacheDir, log: () => {} });
    const warmS = (performance.now() - t) / 1000;
    const size = clip.config.vision.imageSize;
    const pixels = new Float32Array(3 * size * size).map((_, i) => Math.cos(i));
    t = performance.now();
    const features = await clip.encodeImage(pixels, 1);
    const encodeS = (performance.now() - t) / 1000;
    await clip.dispose();
    if (features.length !== clip.config.embedDim || features.some((v) => !Number.isFinite(v))) {
      throw new Error("ViT-H/14 produced malformed features");
    }
    console.log(
      `ViT-H/14: cold load (build + write graphs + sessions) ${coldS.toFixed(1)} s · warm load ${
        warmS.toFixed(1)
      } s · ` +
        `one image ${encodeS.toFixed(2)} s · peak RSS ${peakRssGiB().toFixed(2)} GiB`,
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
}

if (import.meta.main) {
  retainFreedMemory();
  await main();
}
